using System.Diagnostics;
using System.Runtime.InteropServices;
using M2SNet.Edge.TestSupport;
using M2SNet.Edge.Torch.Serialization;

namespace M2SNet.Edge.Torch.Tests;

public sealed class PthArchiveTests
{
    private const string Python = "/usr/bin/python3"; // Debian's, with python3-torch

    [Fact]
    public void The_authors_checkpoint_reads_as_an_ordered_dict_of_half_tensors()
    {
        var root = Assert.IsType<PickleDict>(PthArchive.Read(Reference.Fixture("m2snet_ref_fp16.pth")));

        Assert.True(root.IsOrdered);
        Assert.Equal(690, root.Items.Count);
        var first = root.Items[0];
        Assert.Equal("resnet.conv1.0.weight", first.Key);
        var w = Assert.IsType<TensorData>(first.Value);
        Assert.Equal(ScalarType.Float16, w.DType);
        Assert.Equal([32L, 3, 3, 3], w.Shape);
        var tracked = Assert.IsType<TensorData>(root["resnet.conv1.1.num_batches_tracked"]);
        Assert.Equal(ScalarType.Int64, tracked.DType);
        Assert.Empty(tracked.Shape);
    }

    [Fact]
    public void Written_archive_reads_back_identically()
    {
        var path = TempPath();
        var root = new PickleDict();
        var weights = new PickleDict { IsOrdered = true };
        weights.Add("a.weight", TensorData.FromFloat32([1f, 2f, 3f, 4f, 5f, 6f], 2, 3));
        weights.Add("a.steps", new TensorData(ScalarType.Int64, [], BitConverter.GetBytes(42L)));
        root.Add("model", weights);
        root.Add("epoch", 7L);
        root.Add("best_dice", 0.875);
        root.Add("name", "m2snet");
        root.Add("history", new List<object?> { 1L, 2.5, null, true });
        try
        {
            PthArchive.Write(path, root);

            var back = Assert.IsType<PickleDict>(PthArchive.Read(path));
            Assert.False(back.IsOrdered);
            Assert.Equal(7L, back["epoch"]);
            Assert.Equal(0.875, back["best_dice"]);
            Assert.Equal("m2snet", back["name"]);
            Assert.Equal(new List<object?> { 1L, 2.5, null, true }, back["history"]);
            var model = Assert.IsType<PickleDict>(back["model"]);
            Assert.True(model.IsOrdered);
            var a = Assert.IsType<TensorData>(model["a.weight"]);
            Assert.Equal([2L, 3], a.Shape);
            Assert.Equal([1f, 2f, 3f, 4f, 5f, 6f], a.ToFloat32());
            Assert.Equal(42L, BitConverter.ToInt64(Assert.IsType<TensorData>(model["a.steps"]).Data));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void PyTorch_loads_what_we_write()
    {
        var path = TempPath();
        var root = new PickleDict { IsOrdered = true };
        root.Add("conv.weight", TensorData.FromFloat32([0.5f, -1.25f, 3f, 4f], 1, 1, 2, 2));
        root.Add("bn.num_batches_tracked", new TensorData(ScalarType.Int64, [], BitConverter.GetBytes(3L)));
        root.Add("half", new TensorData(ScalarType.Float16, [2], MemoryMarshal.AsBytes(new Half[] { (Half)1.5f, (Half)(-2f) }.AsSpan()).ToArray()));
        try
        {
            PthArchive.Write(path, root);

            var printed = RunPython(
                "import torch, sys\n" +
                "d = torch.load(sys.argv[1])\n" +
                "print(type(d).__name__, list(d.keys()))\n" +
                "print(d['conv.weight'].shape, d['conv.weight'].dtype, d['conv.weight'].flatten().tolist())\n" +
                "print(d['bn.num_batches_tracked'].item(), d['half'].dtype, d['half'].tolist())\n", path);

            Assert.Equal(
                "OrderedDict ['conv.weight', 'bn.num_batches_tracked', 'half']\n" +
                "torch.Size([1, 1, 2, 2]) torch.float32 [0.5, -1.25, 3.0, 4.0]\n" +
                "3 torch.float16 [1.5, -2.0]\n",
                printed);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void What_PyTorch_saves_with_a_wrapper_and_strided_tensors_reads_back()
    {
        var path = TempPath();
        try
        {
            RunPython(
                "import torch, sys, collections\n" +
                "t = torch.arange(12, dtype=torch.float32).reshape(3, 4)\n" +
                "sd = collections.OrderedDict([('module.w', t.t()), ('module.v', t[1])])\n" +
                "torch.save({'state_dict': sd, 'epoch': 3}, sys.argv[1])\n", path);

            var root = Assert.IsType<PickleDict>(PthArchive.Read(path));

            Assert.Equal(3L, root["epoch"]);
            var sd = Assert.IsType<PickleDict>(root["state_dict"]);
            var transposed = Assert.IsType<TensorData>(sd["module.w"]);
            Assert.Equal([4L, 3], transposed.Shape);
            Assert.Equal([0f, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11], transposed.ToFloat32());
            Assert.Equal([4f, 5, 6, 7], Assert.IsType<TensorData>(sd["module.v"]).ToFloat32());
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void A_truncated_checkpoint_is_refused_with_a_reason()
    {
        var bytes = File.ReadAllBytes(Reference.Fixture("res2net_layer1_fp32.pth"));

        var e = Assert.Throws<InvalidDataException>(() => PthArchive.Read(bytes[..(bytes.Length * 2 / 3)], "layer1.pth"));

        Assert.Contains("layer1.pth", e.Message);
    }

    [Fact]
    public void A_file_that_is_not_a_checkpoint_says_so()
    {
        var e = Assert.Throws<InvalidDataException>(() => PthArchive.Read("hello world"u8.ToArray(), "notes.txt"));

        Assert.Contains("not a PyTorch checkpoint", e.Message);
    }

    [Fact]
    public void A_legacy_torch_save_file_gets_advice()
    {
        var e = Assert.Throws<InvalidDataException>(() => PthArchive.Read([0x80, 0x02, 0x8a, 0x0a], "old.pth"));

        Assert.Contains("legacy", e.Message);
    }

    [Fact]
    public void A_tensor_size_that_overflows_is_a_damaged_checkpoint_not_an_overflow()
    {
        // Found by the fuzz suite (issue 17): sizes [2^31-1, 2^31-1] threw OverflowException.
        var e = Assert.Throws<InvalidDataException>(() => PthArchive.Read(Archive(TensorPickle(int.MaxValue, int.MaxValue)), "big.pth"));

        Assert.Contains("larger than any checkpoint holds", e.Message);
    }

    [Fact]
    public void A_tensor_larger_than_its_storage_is_refused_before_it_is_allocated()
    {
        // 2^28 float32 elements over a 16-byte storage: refused without allocating the gigabyte first.
        var allocated = GC.GetAllocatedBytesForCurrentThread();

        var e = Assert.Throws<InvalidDataException>(() => PthArchive.Read(Archive(TensorPickle(1 << 28, 1)), "big.pth"));

        Assert.Contains("reaches past its storage of 16 bytes", e.Message);
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - allocated < 64 << 20, "the tensor was allocated before its size was checked");
    }

    [Fact]
    public void A_pickle_with_values_of_the_wrong_kind_is_a_damaged_checkpoint()
    {
        // STACK_GLOBAL over two integers instead of a module and a name: was InvalidCastException.
        var e = Assert.Throws<InvalidDataException>(() => PthArchive.Read(Archive([0x80, 2, (byte)'K', 1, (byte)'K', 2, 0x93, (byte)'.']), "odd.pth"));

        Assert.Contains("the pickle is damaged", e.Message);
    }

    /// <summary>A torch.save archive around <paramref name="pickle"/>, with one 16-byte storage "0".</summary>
    private static byte[] Archive(byte[] pickle)
    {
        using var buffer = new MemoryStream();
        using (var zip = new System.IO.Compression.ZipArchive(buffer, System.IO.Compression.ZipArchiveMode.Create, leaveOpen: true))
        {
            foreach (var (name, bytes) in new[] { ("archive/data.pkl", pickle), ("archive/data/0", new byte[16]) })
            {
                using var entry = zip.CreateEntry(name).Open();
                entry.Write(bytes);
            }
        }
        return buffer.ToArray();
    }

    /// <summary>The pickle torch.save writes for one float32 tensor on storage "0", with the given sizes and contiguous strides.</summary>
    private static byte[] TensorPickle(int rows, int cols)
    {
        var p = new List<byte> { 0x80, 2 };
        void Text(string s)
        {
            p.Add((byte)'X');
            p.AddRange(BitConverter.GetBytes(s.Length));
            p.AddRange(System.Text.Encoding.ASCII.GetBytes(s));
        }
        void Int(int v)
        {
            p.Add((byte)'J');
            p.AddRange(BitConverter.GetBytes(v));
        }
        p.AddRange("ctorch._utils\n_rebuild_tensor_v2\n("u8.ToArray());
        p.Add((byte)'(');
        Text("storage");
        p.AddRange("ctorch\nFloatStorage\n"u8.ToArray());
        Text("0");
        Text("cpu");
        Int(4);
        p.AddRange("tQ"u8.ToArray()); // the persistent id's tuple, then BINPERSID
        Int(0); // storage offset
        p.Add((byte)'(');
        Int(rows);
        Int(cols);
        p.Add((byte)'t');
        p.Add((byte)'(');
        Int(cols);
        Int(1);
        p.Add((byte)'t');
        p.Add(0x89); // requires_grad False
        p.AddRange("tR."u8.ToArray());
        return [.. p];
    }

    private static string TempPath() => Path.Combine(Path.GetTempPath(), $"m2s-pth-{Guid.NewGuid():N}.pth");

    private static string RunPython(string script, string argument)
    {
        var psi = new ProcessStartInfo(Python) { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(script);
        psi.ArgumentList.Add(argument);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEnd();
        var stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"python failed: {stderr}");
        return stdout;
    }
}
