using System.IO.Compression;
using M2SNet.Edge.Models;
using M2SNet.Edge.Torch;
using M2SNet.Edge.Torch.Serialization;

namespace M2SNet.Edge.Bench.Fuzz;

/// <summary>
/// Damaged PyTorch checkpoints (.pth, torch.save's zip format) fed in this process to the reader
/// <c>m2s import</c>, training and export use (<see cref="Checkpoint.StateDictOf(object?, string)"/>
/// over <see cref="PthArchive.Read(byte[], string)"/>): two valid files (a state dict of float32,
/// float16, int64 and bool tensors, and a training checkpoint wrapping one) cut short,
/// bit-flipped, overwritten; the pickle or one tensor storage damaged inside an intact zip; the
/// pickle's integers (sizes, offsets, strides) made huge or negative; random bytes; a legacy file.
/// <para>
/// The rule: the reader returns a state dict (damage it cannot see, such as a flipped weight) or
/// throws <see cref="InvalidDataException"/> with a message, the type it uses for every damaged
/// file; any other exception is a crash. It must not hang (the engine's bound) or allocate more
/// than 64 MiB plus 16 times the file's size: every byte it holds comes from the file.
/// </para>
/// </summary>
internal sealed class CheckpointFuzzer : IFuzzTarget
{
    private readonly byte[][] _valid;

    public CheckpointFuzzer(string work)
    {
        var stateDict = new List<KeyValuePair<string, TensorData>>
        {
            new("conv.weight", Tensor(ScalarType.Float32, [8, 3, 3, 3])),
            new("conv.bias", Tensor(ScalarType.Float32, [8])),
            new("bn.weight", Tensor(ScalarType.Float16, [8])),
            new("bn.num_batches_tracked", Tensor(ScalarType.Int64, [])),
            new("mask", Tensor(ScalarType.Bool, [2, 4])),
        };
        var training = new PickleDict();
        var model = new PickleDict { IsOrdered = true };
        foreach (var (k, v) in stateDict) model.Add(k, v);
        training.Add("model", model);
        training.Add("epoch", 3L);
        training.Add("best_dice", 0.5);
        training.Add("meta", new List<object?> { "fuzz", 1L, true, null });
        _valid = [Write(work, "state.pth", stateDict), Write(work, "training.pth", training)];
    }

    public string Category => "checkpoints";

    public Task<FuzzAnswer> RunAsync(Random r, CancellationToken cancel)
    {
        var (bytes, what) = Generate(r);
        var allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
        string answer, detail;
        var acceptable = true;
        try
        {
            var entries = Checkpoint.StateDictOf(PthArchive.Read(bytes, "fuzz.pth"), "fuzz.pth");
            (answer, detail) = ("loaded", $"{entries.Count} tensors");
        }
        catch (InvalidDataException e)
        {
            (answer, detail) = ("InvalidDataException", e.Message);
            acceptable = e.Message.Length > 0;
        }
#pragma warning disable CA1031 // Any other exception is what this target is looking for: it is reported, not rethrown.
        catch (Exception e)
#pragma warning restore CA1031
        {
            (answer, detail, acceptable) = (e.GetType().Name, $"{e.Message} at {e.StackTrace?.Split('\n').FirstOrDefault()?.Trim()}", false);
        }
        var allocated = GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;
        var allowed = (64L << 20) + 16L * bytes.Length;
        if (allocated > allowed)
        {
            acceptable = false;
            detail = $"allocated {allocated >> 20} MiB reading a {bytes.Length >> 10} KiB file ({detail})";
        }
        return Task.FromResult(new FuzzAnswer(what, answer, acceptable, detail));
    }

    private (byte[] Bytes, string What) Generate(Random r)
    {
        var which = r.Next(_valid.Length);
        var valid = _valid[which];
        var name = which == 0 ? "state dict" : "training checkpoint";
        switch (r.Next(9))
        {
            case 0:
            {
                var (bytes, what) = ByteMutations.Truncate(valid, r);
                return (bytes, $"{name} {what}");
            }
            case 1:
            {
                var (bytes, what) = ByteMutations.FlipBits(valid, r);
                return (bytes, $"{name} {what}");
            }
            case 2:
            {
                var (bytes, what) = ByteMutations.Any(valid, r);
                return (bytes, $"{name} {what}");
            }
            case 3:
            case 4:
            {
                var (bytes, what) = Rewrite(valid, "data.pkl", p => r.Next(2) == 0 ? ByteMutations.FlipBits(p, r) : ByteMutations.Any(p, r));
                return (bytes, $"{name}, data.pkl {what}");
            }
            case 5:
            {
                var (bytes, what) = Rewrite(valid, "data/" + r.Next(0, 5), s => r.Next(2) == 0 ? ByteMutations.Truncate(s, r) : ByteMutations.Any(s, r));
                return (bytes, $"{name}, storage {what}");
            }
            case 6:
            {
                var (bytes, what) = Rewrite(valid, "data.pkl", p => BigIntegers(p, r));
                return (bytes, $"{name}, data.pkl {what}");
            }
            case 7:
            {
                var (bytes, what) = Rewrite(valid, "data.pkl", _ =>
                {
                    var ops = ByteMutations.RandomBytes(r, r.Next(1, 300));
                    return ([0x80, 2, .. ops, (byte)'.'], $"replaced by {ops.Length} random opcodes");
                });
                return (bytes, $"{name}, {what}");
            }
            default:
            {
                var bytes = ByteMutations.RandomBytes(r, r.Next(0, 2048));
                var kind = r.Next(3);
                if (kind == 1 && bytes.Length >= 4) "PK\u0003\u0004"u8.CopyTo(bytes);
                if (kind == 2 && bytes.Length >= 2) (bytes[0], bytes[1]) = (0x80, 2);
                return (bytes, $"{bytes.Length} random bytes{(kind == 1 ? " after a zip signature" : kind == 2 ? " after a pickle header (legacy file)" : "")}");
            }
        }
    }

    /// <summary>BININT1 operands (small sizes, offsets, strides) turned into 4-byte integers that are huge or negative.</summary>
    private static (byte[], string) BigIntegers(byte[] pickle, Random r)
    {
        var positions = Enumerable.Range(0, pickle.Length - 1).Where(i => pickle[i] == (byte)'K').ToList();
        if (positions.Count == 0) return (pickle, "unchanged (no small integers)");
        var at = positions[r.Next(positions.Count)];
        int[] values = [int.MaxValue, int.MinValue, -1, 1 << 30, 1 << 24, r.Next(), -r.Next()];
        var value = values[r.Next(values.Length)];
        var operand = BitConverter.GetBytes(value);
        return ([.. pickle.AsSpan(0, at), (byte)'J', .. operand, .. pickle.AsSpan(at + 2)], $"integer at {at} set to {value}");
    }

    /// <summary>The checkpoint with one entry (matched by the end of its name) changed, the zip itself intact.</summary>
    private static (byte[], string) Rewrite(byte[] checkpoint, string entrySuffix, Func<byte[], (byte[] Bytes, string What)> change)
    {
        using var source = new ZipArchive(new MemoryStream(checkpoint), ZipArchiveMode.Read);
        using var buffer = new MemoryStream();
        var what = $"(no entry {entrySuffix})";
        using (var target = new ZipArchive(buffer, ZipArchiveMode.Create, leaveOpen: true))
        {
            foreach (var entry in source.Entries)
            {
                using var input = entry.Open();
                using var copy = new MemoryStream();
                input.CopyTo(copy);
                var bytes = copy.ToArray();
                if (entry.FullName.EndsWith("/" + entrySuffix, StringComparison.Ordinal)) (bytes, what) = change(bytes);
                using var output = target.CreateEntry(entry.FullName, CompressionLevel.NoCompression).Open();
                output.Write(bytes);
            }
        }
        return (buffer.ToArray(), what);
    }

    private static TensorData Tensor(ScalarType dtype, long[] shape)
    {
        long count = 1;
        foreach (var d in shape) count *= d;
        var bytes = new byte[count * ScalarTypes.ElementSize(dtype)];
        for (var i = 0; i < bytes.Length; i++) bytes[i] = (byte)(i * 37 + 11);
        if (dtype == ScalarType.Bool) Array.Fill(bytes, (byte)1);
        return new TensorData(dtype, shape, bytes);
    }

    private static byte[] Write(string work, string name, object root)
    {
        var path = Path.Combine(work, name);
        PthArchive.Write(path, root);
        return File.ReadAllBytes(path);
    }
}
