using M2SNet.Edge.Models;
using M2SNet.Edge.Torch.Serialization;
using static M2SNet.Edge.Torch.torch;

namespace M2SNet.Edge.Training;

/// <summary>What a training run records next to the weights: carried into the exported manifest.</summary>
public sealed record TrainingMeta(string Data, int Images, int Epochs, int Size, string? Notes, IReadOnlyDictionary<string, double> Validation);

/// <summary>
/// A training checkpoint, saved as torch.save would: a dict with the model's state dict ("model"),
/// the SGD momentum buffers by parameter name ("optimizer"), the epoch, the best validation mDice,
/// the architecture and the run's metadata. PyTorch loads it; <see cref="Checkpoint.Load"/> finds
/// the weights in it; <see cref="Read"/> restores everything to resume.
/// </summary>
public sealed record TrainingCheckpoint(
    string Architecture,
    int Epoch,
    double BestDice,
    IReadOnlyList<KeyValuePair<string, TensorData>> Model,
    IReadOnlyDictionary<string, TensorData> MomentumBuffers,
    TrainingMeta? Meta)
{
    public static void Save(string path, string architecture, nn.Module network, optim.SGD optimizer, int epoch, double bestDice, TrainingMeta meta)
    {
        var names = network.named_parameters().ToDictionary(p => p.parameter, p => p.name, ReferenceEqualityComparer.Instance as IEqualityComparer<Tensor>);
        var buffers = new PickleDict { IsOrdered = true };
        foreach (var (parameter, buffer) in optimizer.MomentumBuffers)
        {
            if (names.TryGetValue(parameter, out var name)) buffers.Add(name, ToData(buffer));
        }
        var model = new PickleDict { IsOrdered = true };
        foreach (var (k, v) in Checkpoint.StateDictOf(network)) model.Add(k, v);
        var validation = new PickleDict();
        foreach (var (k, v) in meta.Validation) validation.Add(k, v);
        var metaDict = new PickleDict();
        metaDict.Add("data", meta.Data);
        metaDict.Add("images", (long)meta.Images);
        metaDict.Add("epochs", (long)meta.Epochs);
        metaDict.Add("size", (long)meta.Size);
        metaDict.Add("notes", meta.Notes);
        metaDict.Add("validation", validation);
        var optimizerDict = new PickleDict();
        optimizerDict.Add("momentum_buffer", buffers);

        var root = new PickleDict();
        root.Add("architecture", architecture);
        root.Add("epoch", (long)epoch);
        root.Add("best_mdice", bestDice);
        root.Add("model", model);
        root.Add("optimizer", optimizerDict);
        root.Add("meta", metaDict);
        PthArchive.Write(path, root);
    }

    /// <summary>Reads a checkpoint written by <see cref="Save"/>; a plain state dict gives epoch −1 and no optimizer state.</summary>
    public static TrainingCheckpoint Read(string path)
    {
        var root = PthArchive.Read(path);
        var weights = Checkpoint.StateDictOf(root, path);
        if (root is not PickleDict dict || !dict.ContainsKey("epoch"))
        {
            return new TrainingCheckpoint("", -1, 0, weights, new Dictionary<string, TensorData>(), null);
        }
        var buffers = new Dictionary<string, TensorData>(StringComparer.Ordinal);
        if (dict["optimizer"] is PickleDict opt && opt["momentum_buffer"] is PickleDict mb)
        {
            foreach (var (k, v) in mb.Items)
            {
                if (k is string name && v is TensorData t) buffers[name] = t;
            }
        }
        return new TrainingCheckpoint(dict["architecture"] as string ?? "", (int)(long)dict["epoch"]!, Convert.ToDouble(dict["best_mdice"], System.Globalization.CultureInfo.InvariantCulture),
            weights, buffers, ReadMeta(dict["meta"] as PickleDict));
    }

    private static TrainingMeta? ReadMeta(PickleDict? meta)
    {
        if (meta is null) return null;
        var validation = new Dictionary<string, double>(StringComparer.Ordinal);
        if (meta["validation"] is PickleDict v)
        {
            foreach (var (k, value) in v.Items)
            {
                if (k is string name && value is double d) validation[name] = d;
            }
        }
        return new TrainingMeta(meta["data"] as string ?? "", (int)(meta["images"] as long? ?? 0), (int)(meta["epochs"] as long? ?? 0),
            (int)(meta["size"] as long? ?? 0), meta["notes"] as string, validation);
    }

    private static TensorData ToData(Tensor t)
    {
        var bytes = new byte[t.numel() * Torch.ScalarTypes.ElementSize(t.dtype)];
        t.CopyTo<byte>(bytes);
        return new TensorData(t.dtype, t.shape, bytes);
    }
}
