using M2SNet.Edge.Models;
using M2SNet.Edge.Models.Networks;
using M2SNet.Edge.Onnx;
using M2SNet.Edge.Onnx.Format;
using M2SNet.Edge.Inference;
using Microsoft.ML.OnnxRuntime;
using M2SNet.Edge.TestSupport;
using static M2SNet.Edge.Torch.torch;

namespace M2SNet.Edge.Export.Tests;

public sealed class ExporterTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("m2s-export-");

    public void Dispose() => _dir.Delete(recursive: true);

    [Theory]
    [InlineData("m2snet", 64)]
    [InlineData("m2snet", 96)]
    [InlineData("msnet", 64)]
    [InlineData("msnet", 96)]
    [InlineData("chnet", 64)]
    [InlineData("chnet", 96)]
    public void Every_network_exports_and_matches_libtorch_at_batch_2(string name, int size)
    {
        using var net = (nn.Module)ModelRegistry.Get(name).Create();
        Calibrate(net);

        var result = OnnxExporter.Export((ISegmentationNetwork)net, new ExportRequest(name, Out($"{name}{size}.onnx"), size, VerifyBatch: 2));

        Assert.True(result.MaxAbsDiff <= result.Tolerance);
        Assert.Equal("logits", result.ComparedIn);
        Assert.True(File.Exists(result.OnnxPath) && File.Exists(result.ManifestPath));
    }

    [Fact]
    public void The_authors_checkpoint_exported_gives_their_logits()
    {
        using var net = new Models.Networks.M2SNet();
        Checkpoint.LoadNetwork(net, Checkpoint.Load(Reference.Fixture("m2snet_ref_fp16.pth")));
        var result = OnnxExporter.Export(net, new ExportRequest("m2snet", Out("ref.onnx")));

        var actual = Run(result.OnnxPath, Reference.Float32("m2snet_input.bin"), [1, 3, 128, 160]);

        var expected = Reference.Float32("m2snet_output.bin");
        var maxAbs = expected.Zip(actual, (e, a) => Math.Abs(e - a)).Max();
        var absmax = expected.Max(Math.Abs);
        Assert.True(maxAbs <= 1e-3 && maxAbs / absmax <= 1e-5, $"max |diff| {maxAbs:E2} (relative {maxAbs / absmax:E2})");
    }

    [Fact]
    public void Optimised_and_naive_graphs_compute_the_same_logits_with_different_work()
    {
        using var net = new Models.Networks.M2SNet();
        Checkpoint.LoadNetwork(net, Checkpoint.Load(Reference.Fixture("m2snet_ref_fp16.pth")));
        var optimised = OnnxExporter.Export(net, new ExportRequest("m2snet", Out("opt.onnx")));
        var naive = OnnxExporter.Export(net, new ExportRequest("m2snet", Out("naive.onnx"), Form: GraphForm.Naive));

        var input = Reference.Float32("m2snet_input.bin");
        var a = Run(optimised.OnnxPath, input, [1, 3, 128, 160]);
        var b = Run(naive.OnnxPath, input, [1, 3, 128, 160]);

        Assert.True(a.Zip(b, (x, y) => Math.Abs(x - y)).Max() <= 1e-3);
        var optimisedOps = OpCounts(optimised.OnnxPath);
        var naiveOps = OpCounts(naive.OnnxPath);
        Assert.Equal(0, naiveOps.GetValueOrDefault("ReduceSum"));
        Assert.True(optimisedOps["ReduceSum"] > 0);
        // Four all-ones filters per unit, ten units: 40 heavy convolutions in the naive graph. Ours
        // has 40 light ones in their place (1×1 from the box filter), and writes the backbone's
        // seven window means (AveragePool in the authors' graph) as depthwise convolutions.
        Assert.Equal(7, naiveOps["AveragePool"]);
        Assert.Equal(40, naiveOps["Conv"] - (optimisedOps["Conv"] - 40 - 7));
        // Batch norms are all folded.
        Assert.False(optimisedOps.ContainsKey("BatchNormalization"));
        // The authors' graph resizes 15 times, 5 of them between levels of the same size; ours
        // drops those 5 (and adds cheap one-channel resizes of channel sums).
        Assert.Equal(15, naiveOps["Resize"]);
        Assert.Equal(10, FullWidthResizes(optimised.OnnxPath));
    }

    [Fact]
    public void Channel_sums_are_shared_between_the_3x3_and_5x5_filters_and_taken_before_upsampling()
    {
        using var net = new Models.Networks.M2SNet();
        Calibrate(net);
        var result = OnnxExporter.Export(net, new ExportRequest("m2snet", Out("shared.onnx"), 64));

        var graph = ModelProto.Parser.ParseFrom(File.ReadAllBytes(result.OnnxPath)).Graph;
        var producer = graph.Node.SelectMany(n => n.Output.Select(o => (o, n))).ToDictionary(p => p.o, p => p.n);
        var sums = graph.Node.Where(n => n.OpType == "ReduceSum").ToList();

        // No channel sum is taken of an upsampled tensor: it is taken before, on the small map.
        Assert.All(sums, s => Assert.NotEqual("Resize", producer.GetValueOrDefault(s.Input[0])?.OpType));
        // Every one-channel map (a sum, or a sum upsampled) feeds exactly two box filters: 3×3 and 5×5.
        var boxFilters = graph.Node.Where(n => n.OpType == "AveragePool" && IsChannelSum(n.Input[0])).ToList();
        Assert.All(boxFilters.GroupBy(n => n.Input[0]), g => Assert.Equal(
            new long[] { 3, 5 }, g.Select(n => n.Attribute.First(a => a.Name == "kernel_shape").Ints[0]).Order()));
        // Ten units compare two inputs each; shared inputs are summed once.
        Assert.InRange(boxFilters.Select(n => n.Input[0]).Distinct().Count(), 10, 20);

        bool IsChannelSum(string value) => producer.GetValueOrDefault(value) switch
        {
            { OpType: "ReduceSum" } => true,
            { OpType: "Resize" } r => IsChannelSum(r.Input[0]),
            _ => false,
        };
    }

    [Fact]
    public void Half_precision_weights_halve_the_file_and_keep_the_masks()
    {
        using var net = new CHNet();
        Calibrate(net);
        var full = OnnxExporter.Export(net, new ExportRequest("chnet", Out("full.onnx"), 64));
        var half = OnnxExporter.Export(net, new ExportRequest("chnet", Out("half.onnx"), 64, Float16Weights: true));

        Assert.Equal("probability", half.ComparedIn);
        Assert.True(half.MaxAbsDiff <= half.Tolerance);
        Assert.Equal(0.1, half.Tolerance);
        Assert.InRange(half.Bytes, full.Bytes * 0.45, full.Bytes * 0.55);
        Assert.Equal("float16", half.Manifest.Exporter.Weights);
    }

    [Fact]
    public void Sigmoid_head_outputs_probabilities()
    {
        using var net = new CHNet();
        Calibrate(net);
        var result = OnnxExporter.Export(net, new ExportRequest("chnet", Out("prob.onnx"), 64, SigmoidHead: true));

        var output = Run(result.OnnxPath, new float[3 * 64 * 64], [1, 3, 64, 64], "probability");

        Assert.Equal("probability", result.Manifest.Output.Semantics);
        Assert.All(output, p => Assert.InRange(p, 0f, 1f));
    }

    [Fact]
    public void Manifest_records_the_file_hash_and_a_golden_pair_that_replays()
    {
        using var net = new MSNet();
        Calibrate(net);
        var result = OnnxExporter.Export(net, new ExportRequest("msnet", Out("model.onnx"), 96, Version: "2.1.0"));

        var manifest = ModelManifest.FromJson(File.ReadAllText(result.ManifestPath));

        Assert.Equal(ModelManifest.Sha256Of(result.OnnxPath), manifest.OnnxSha256);
        Assert.StartsWith("msnet-", manifest.ModelId, StringComparison.Ordinal);
        Assert.Equal("2.1.0", manifest.Version);
        Assert.Equal([1L, 3, 96, 96], manifest.Input.Shape);
        Assert.Equal(ModelRegistry.ImageNetMean, manifest.Input.Mean);
        Assert.Equal("logits", manifest.Output.Semantics);
        var replay = Run(result.OnnxPath, manifest.Golden.Input(), manifest.Golden.InputShape);
        Assert.Equal(manifest.Golden.Output(), replay);
    }

    [Fact]
    public void A_graph_that_disagrees_with_libtorch_is_not_kept()
    {
        using var inner = new CHNet();
        Calibrate(inner);
        var liar = new Misreporting(inner);
        var path = Out("liar.onnx");

        var e = Assert.Throws<ExportVerificationException>(() => OnnxExporter.Export(liar, new ExportRequest("chnet", path, 64)));

        Assert.Contains("disagree", e.Message);
        Assert.Empty(_dir.GetFiles());
    }

    [Theory]
    [InlineData(100)]
    [InlineData(0)]
    public void Sizes_that_are_not_multiples_of_32_are_refused(int size)
    {
        using var net = new CHNet();

        var e = Assert.Throws<ArgumentException>(() => OnnxExporter.Export(net, new ExportRequest("chnet", Out("x.onnx"), size)));

        Assert.Contains("multiple of 32", e.Message);
    }

    [Fact]
    public void An_unwritable_destination_is_refused_before_any_work()
    {
        using var net = new CHNet();

        var e = Assert.Throws<IOException>(() => OnnxExporter.Export(net, new ExportRequest("chnet", "/proc/m2s/model.onnx", 64)));

        Assert.Contains("cannot write", e.Message);
    }

    private string Out(string name) => Path.Combine(_dir.FullName, name);

    /// <summary>Gives the batch norms realistic running statistics, as a trained network has.</summary>
    internal static void Calibrate(nn.Module net)
    {
        manual_seed(5);
        net.train();
        using (var scope = NewDisposeScope())
        using (no_grad())
        {
            for (var i = 0; i < 2; i++) ((ISegmentationNetwork)net).forward(randn([2, 3, 64, 64]));
        }
        net.eval();
    }

    internal static float[] Run(string onnx, float[] input, long[] shape, string output = "logits")
    {
        using var session = ProviderSession.Create(onnx);
        using var value = OrtValue.CreateTensorValueFromMemory(input, shape);
        using var outputs = session.Run(ProviderSession.DefaultRun, ["image"], [value], [output]);
        return outputs[0].GetTensorDataAsSpan<float>().ToArray();
    }

    private static int FullWidthResizes(string onnx)
    {
        var graph = ModelProto.Parser.ParseFrom(File.ReadAllBytes(onnx)).Graph;
        var producer = graph.Node.SelectMany(n => n.Output.Select(o => (o, n))).ToDictionary(p => p.o, p => p.n);
        bool OneChannel(string v) => producer.GetValueOrDefault(v) switch
        {
            { OpType: "ReduceSum" } => true,
            { OpType: "Resize" } r => OneChannel(r.Input[0]),
            _ => false,
        };
        return graph.Node.Count(n => n.OpType == "Resize" && !OneChannel(n.Input[0]));
    }

    private static Dictionary<string, int> OpCounts(string onnx) =>
        ModelProto.Parser.ParseFrom(File.ReadAllBytes(onnx)).Graph.Node.GroupBy(n => n.OpType).ToDictionary(g => g.Key, g => g.Count());

    /// <summary>A network whose libtorch forward differs from the graph it emits.</summary>
    private sealed class Misreporting(CHNet inner) : nn.Module, ISegmentationNetwork
    {
        public nn.Module Backbone => inner.Backbone;

        public T Forward<T>(M2SNet.Edge.Models.IOps<T> ops, T image) => inner.Forward(ops, image);

        public Tensor forward(Tensor image) => inner.forward(image) + 1;
    }
}
