using M2SNet.Edge.Models.Networks;
using M2SNet.Edge.Torch.Serialization;
using static M2SNet.Edge.Torch.torch;

namespace M2SNet.Edge.Models;

/// <summary>What a checkpoint holds, judged from its keys.</summary>
public enum CheckpointKind
{
    /// <summary>A whole network: keys as the network's state dict ("resnet.conv1.0.weight", "x5_dem_1.0.weight", ...).</summary>
    Network,

    /// <summary>An ImageNet backbone: Res2Net-50 keys without the "resnet." prefix.</summary>
    Backbone,
}

/// <summary>
/// PyTorch checkpoints (.pth) as the authors and torchvision publish them: an OrderedDict of
/// tensors, or a dict wrapping one under "state_dict"/"model"/"model_state_dict"/"net"; keys may
/// carry DataParallel's "module." prefix; float16 or float32. Loading into a network is strict and
/// all-or-nothing: every mismatch is reported together and nothing is written unless all match.
/// </summary>
public static class Checkpoint
{
    private static readonly string[] s_wrapperKeys = ["state_dict", "model", "model_state_dict", "net"];

    /// <summary>Reads the state dict of a checkpoint file, unwrapped, with "module." prefixes removed.</summary>
    public static IReadOnlyList<KeyValuePair<string, TensorData>> Load(string path) => StateDictOf(PthArchive.Read(path), path);

    public static IReadOnlyList<KeyValuePair<string, TensorData>> StateDictOf(object? root, string name = "checkpoint")
    {
        var dict = root as PickleDict ?? throw new InvalidDataException($"{name} holds a {Describe(root)}, not a state dict");
        foreach (var key in s_wrapperKeys)
        {
            if (dict[key] is PickleDict inner && inner.Items.Count > 0 && inner.Items.All(p => p.Value is TensorData)) return Entries(inner, name);
        }
        return Entries(dict, name);
    }

    /// <summary>Whether the keys are a whole network's or an ImageNet backbone's.</summary>
    public static CheckpointKind KindOf(IReadOnlyList<KeyValuePair<string, TensorData>> stateDict) =>
        stateDict.Any(p => p.Key.StartsWith("resnet.", StringComparison.Ordinal)) ? CheckpointKind.Network
        : stateDict.Any(p => p.Key.StartsWith("layer1.", StringComparison.Ordinal)) ? CheckpointKind.Backbone
        : CheckpointKind.Network;

    /// <summary>
    /// Loads a whole-network checkpoint strictly, or an ImageNet backbone checkpoint into the
    /// network's backbone (keys the backbone lacks, such as the last stage for CHNet, are skipped).
    /// </summary>
    public static CheckpointKind LoadNetwork(ISegmentationNetwork network, IReadOnlyList<KeyValuePair<string, TensorData>> stateDict)
    {
        var kind = KindOf(stateDict);
        if (kind == CheckpointKind.Backbone)
        {
            var wanted = network.Backbone.state_dict().Select(p => p.Key).ToHashSet(StringComparer.Ordinal);
            LoadInto(network.Backbone, stateDict.Where(p => wanted.Contains(p.Key)).ToList());
        }
        else
        {
            LoadInto((nn.Module)network, stateDict);
        }
        return kind;
    }

    /// <summary>Strict, all-or-nothing load of tensors into a module (dtype converted, e.g. float16 to float32).</summary>
    public static void LoadInto(nn.Module module, IReadOnlyList<KeyValuePair<string, TensorData>> stateDict)
    {
        using var scope = NewDisposeScope();
        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (key, data) in stateDict) tensors[key] = from_bytes(data.Data, data.DType, data.Shape);
        module.load_state_dict(tensors, strict: true);
    }

    /// <summary>A module's parameters and buffers as checkpoint entries (for saving, in state-dict order).</summary>
    public static List<KeyValuePair<string, TensorData>> StateDictOf(nn.Module module)
    {
        var result = new List<KeyValuePair<string, TensorData>>();
        foreach (var (key, t) in module.state_dict())
        {
            var bytes = new byte[t.numel() * Torch.ScalarTypes.ElementSize(t.dtype)];
            t.CopyTo<byte>(bytes);
            result.Add(new(key, new TensorData(t.dtype, t.shape, bytes)));
        }
        return result;
    }

    /// <summary>Writes a module's state dict as a .pth file PyTorch can load.</summary>
    public static void Save(nn.Module module, string path) => PthArchive.Write(path, StateDictOf(module));

    private static List<KeyValuePair<string, TensorData>> Entries(PickleDict dict, string name)
    {
        var result = new List<KeyValuePair<string, TensorData>>(dict.Items.Count);
        foreach (var (k, v) in dict.Items)
        {
            if (k is not string key) throw new InvalidDataException($"{name}: a state-dict key is a {Describe(k)}, not a string");
            if (v is not TensorData t) throw new InvalidDataException($"{name}: '{key}' holds a {Describe(v)}, not a tensor; is this a state dict?");
            result.Add(new(key.StartsWith("module.", StringComparison.Ordinal) ? key["module.".Length..] : key, t));
        }
        return result;
    }

    private static string Describe(object? o) => o switch
    {
        null => "None",
        PickleObject p => p.Callable.ToString(),
        PickleDict => "dict",
        _ => o.GetType().Name,
    };
}
