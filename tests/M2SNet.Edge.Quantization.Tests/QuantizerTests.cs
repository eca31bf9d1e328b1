using M2SNet.Edge.Deployment;
using M2SNet.Edge.Inference;
using M2SNet.Edge.Onnx;
using M2SNet.Edge.Onnx.Format;
using M2SNet.Edge.Synthetic;
using M2SNet.Edge.TestSupport;
using DataType = M2SNet.Edge.Onnx.Format.TensorProto.Types.DataType;

namespace M2SNet.Edge.Quantization.Tests;

/// <summary>
/// The bundled demo model (M2SNet-S, 224) quantized on synthetic frames with masks, run by ONNX
/// Runtime: what the appliance would ship. One quantization is shared by the tests that read it.
/// </summary>
public sealed class QuantizerTests(QuantizerTests.DemoInt8 demo) : IClassFixture<QuantizerTests.DemoInt8>
{
    public sealed class DemoInt8 : IDisposable
    {
        public DemoInt8()
        {
            Dir = Directory.CreateTempSubdirectory("m2s-quantize-").FullName;
            Model = Path.Combine(Reference.RepositoryRoot(), "models", "m2snet-s-demo.onnx");
            Frames = Path.Combine(Dir, "frames");
            SyntheticDataset.Write(Frames, 24, seed: 500_000, new SyntheticOptions(224, 224));
            Result = PostTrainingQuantizer.Run(new QuantizeRequest(Model, Path.Combine(Dir, "int8.onnx"), Frames, Frames: 24));
        }

        public string Dir { get; }

        public string Model { get; }

        public string Frames { get; }

        public QuantizeResult Result { get; }

        public void Dispose() => Directory.Delete(Dir, recursive: true);
    }

    [Fact]
    public void The_demo_model_in_int8_keeps_its_mDice_and_records_how_it_was_made()
    {
        var r = demo.Result;
        Assert.True(r.Written, r.Refusal);
        Assert.True(r.Accuracy.Passed);
        Assert.True(r.Accuracy.Drop <= 0.01, $"mDice drop {r.Accuracy.Drop}");
        Assert.True(r.Accuracy.Float32 > 0.9, $"float32 mDice {r.Accuracy.Float32}: the check scored something meaningful");
        Assert.Equal("masks", r.Accuracy.Reference);
        Assert.Equal(6, r.Accuracy.Frames); // every 4th of 24

        var m = ModelManifest.FromJson(File.ReadAllText(ModelManifest.PathFor(r.OnnxPath)));
        Assert.Equal(ModelManifest.Precisions.Int8, m.Precision);
        Assert.Equal(ModelManifest.Sha256Of(r.OnnxPath), m.OnnxSha256);
        var original = ModelManifest.FromJson(File.ReadAllText(ModelManifest.PathFor(demo.Model)));
        Assert.Equal(original.OnnxSha256, m.Quantization!.FromOnnxSha256);
        Assert.Equal(18, m.Quantization.Calibration!.Frames);
        var frames = CalibrationFrames.Load(demo.Frames, 24).Split().Calibration;
        Assert.Equal(frames.Sha256(), m.Quantization.Calibration.Sha256);
        Assert.Equal(r.Accuracy, m.Quantization.Accuracy);
        Assert.Contains(m.Quantization.FloatLayers, f => f.Reason.Contains("logits", StringComparison.Ordinal));
        Assert.Equal(original.Validation, m.Validation);
        Assert.True(new FileInfo(r.OnnxPath).Length < new FileInfo(demo.Model).Length, "int8 weights take less room than float16 ones");
    }

    [Fact]
    public void ONNX_Runtime_fuses_the_graph_into_integer_kernels()
    {
        var optimised = Path.Combine(demo.Dir, "as-run.onnx");
        using (ProviderSession.Create(demo.Result.OnnxPath, new SessionSettings { OptimizedModelFilePath = optimised })) { }
        var nodes = ModelProto.Parser.ParseFrom(File.ReadAllBytes(optimised)).Graph.Node;
        var ops = nodes.GroupBy(n => n.OpType).ToDictionary(g => g.Key, g => g.Count());

        // Every convolution runs as QLinearConv but those the report names float: the output head and
        // the box filters' spreads from one channel; residual adds and concatenations in 8 bits too.
        Assert.Equal(demo.Result.QuantizedLayers, ops.GetValueOrDefault("QLinearConv"));
        Assert.True(demo.Result.QuantizedLayers >= 100, $"{demo.Result.QuantizedLayers} convolutions in int8");
        // (ONNX Runtime merges float convolutions that repeat the same work, so it may run fewer.)
        Assert.InRange(ops.GetValueOrDefault("Conv") + ops.GetValueOrDefault("FusedConv"), 1, demo.Result.FloatLayers.Count);
        Assert.Single(demo.Result.FloatLayers, f => f.Reason.Contains("logits", StringComparison.Ordinal));
        Assert.Equal(40, demo.Result.FloatLayers.Count(f => f.Reason.StartsWith("one input channel", StringComparison.Ordinal)));
        Assert.True(ops.GetValueOrDefault("QLinearAdd") > 0);
        Assert.True(ops.GetValueOrDefault("QLinearConcat") > 0);
        Assert.False(ops.ContainsKey("Relu"), "a Relu before a Q whose zero point is 0 is dropped");
    }

    [Fact]
    public void Weights_are_int8_per_output_channel_and_biases_int32_at_input_scale_times_weight_scale()
    {
        var g = ModelProto.Parser.ParseFrom(File.ReadAllBytes(demo.Result.OnnxPath)).Graph;
        var init = g.Initializer.ToDictionary(t => t.Name);
        var producer = g.Node.SelectMany(n => n.Output.Select(o => (o, n))).ToDictionary(p => p.o, p => p.n);
        var checkedConvs = 0;
        foreach (var conv in g.Node.Where(n => n.OpType == "Conv" && n.Input.Count == 3 && producer.TryGetValue(n.Input[1], out var d) && d.OpType == "DequantizeLinear"))
        {
            var x = producer[conv.Input[0]];
            var w = producer[conv.Input[1]];
            var b = producer[conv.Input[2]];
            Assert.Equal("DequantizeLinear", x.OpType);
            var weight = init[w.Input[0]];
            Assert.Equal((int)DataType.Int8, weight.DataType);
            Assert.Equal(0, w.Attribute.Single(a => a.Name == "axis").I);
            var wScale = OnnxFloats(init[w.Input[1]]);
            Assert.Equal(weight.Dims[0], wScale.Length);
            Assert.All(weight.RawData.ToByteArray(), v => Assert.NotEqual(unchecked((byte)-128), v)); // symmetric: -127..127
            Assert.Equal((int)DataType.Int32, init[b.Input[0]].DataType);
            var xScale = OnnxFloats(init[x.Input[1]]).Single();
            var bScale = OnnxFloats(init[b.Input[1]]);
            for (var c = 0; c < bScale.Length; c++) Assert.Equal(xScale * wScale[c], bScale[c]);
            checkedConvs++;
        }
        Assert.Equal(demo.Result.QuantizedLayers, checkedConvs);
    }

    [Fact]
    public void The_appliance_loads_the_int8_model_and_its_golden_pair_replays()
    {
        using var model = SegmentationModel.Load(demo.Result.OnnxPath, new SessionSettings());
        var worst = model.SelfTest();
        Assert.True(worst <= 1e-4, $"the golden output was recorded from this very graph on the CPU: {worst}");
        Assert.Equal(ModelManifest.Precisions.Int8, model.Manifest.Precision);
    }

    [Fact]
    public void A_model_calibrated_on_the_wrong_frames_is_refused_and_nothing_is_written_unless_forced()
    {
        // Black frames: every activation range is what a dark screen gives, and real frames clip.
        var black = Directory.CreateDirectory(Path.Combine(demo.Dir, "black")).FullName;
        using (var frame = new OpenCv.Mat(224, 224, OpenCv.MatType.CV_8UC3))
        {
            frame.SetTo(new OpenCv.Scalar(0, 0, 0));
            for (var i = 0; i < 4; i++) OpenCv.Cv2.ImWrite(Path.Combine(black, $"black{i}.png"), frame);
        }
        var output = Path.Combine(demo.Dir, "refused.onnx");
        var request = new QuantizeRequest(demo.Model, output, black, Validation: demo.Frames, Frames: 8);

        var refused = PostTrainingQuantizer.Run(request);

        Assert.False(refused.Written);
        Assert.False(File.Exists(output));
        Assert.False(File.Exists(ModelManifest.PathFor(output)));
        Assert.True(refused.Accuracy.Drop > 0.01, $"drop {refused.Accuracy.Drop}");
        Assert.Contains("over the limit", refused.Refusal);
        Assert.True(refused.Trials.Count > 3, "the check left the worst activations float before giving up");

        var forced = PostTrainingQuantizer.Run(request with { Force = true });
        Assert.True(forced.Written);
        var m = ModelManifest.FromJson(File.ReadAllText(ModelManifest.PathFor(output)));
        Assert.False(m.Quantization!.Accuracy.Passed);
        Assert.True(m.Quantization.Accuracy.Forced);
    }

    [Fact]
    public void Float16_computes_in_half_precision_between_float32_ends_and_keeps_the_masks()
    {
        var output = Path.Combine(demo.Dir, "fp16.onnx");
        var result = PostTrainingQuantizer.Run(new QuantizeRequest(demo.Model, output, demo.Frames, TargetPrecision.Float16, Frames: 8));

        Assert.True(result.Written, result.Refusal);
        Assert.Equal(8, result.Accuracy.Frames);
        Assert.True(result.Accuracy.Drop <= 0.01);
        var g = ModelProto.Parser.ParseFrom(File.ReadAllBytes(output)).Graph;
        Assert.Equal((int)DataType.Float, g.Input[0].Type.TensorType.ElemType);
        Assert.Equal((int)DataType.Float, g.Output[0].Type.TensorType.ElemType);
        var convWeights = g.Node.Where(n => n.OpType == "Conv").Select(n => n.Input[1]).ToHashSet();
        Assert.All(g.Initializer.Where(t => convWeights.Contains(t.Name)), t => Assert.Equal((int)DataType.Float16, t.DataType));
        Assert.Equal(ModelManifest.Precisions.Float16, ModelManifest.FromJson(File.ReadAllText(ModelManifest.PathFor(output))).Precision);
        using var model = SegmentationModel.Load(output, new SessionSettings());
        Assert.True(model.SelfTest() <= 1e-3);
    }

    [Fact]
    public void A_reduced_model_is_not_reduced_again_and_does_not_overwrite_its_original()
    {
        Assert.Contains("already int8", Assert.Throws<InvalidDataException>(() =>
            PostTrainingQuantizer.Run(new QuantizeRequest(demo.Result.OnnxPath, Path.Combine(demo.Dir, "again.onnx"), demo.Frames))).Message);
        Assert.Throws<ArgumentException>(() => PostTrainingQuantizer.Run(new QuantizeRequest(demo.Model, demo.Model, demo.Frames)));
    }

    [Fact]
    public void A_graph_without_node_names_quantizes_and_a_model_that_is_not_its_manifests_is_refused()
    {
        var model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(demo.Model));
        foreach (var node in model.Graph.Node) node.Name = "";
        var unnamed = Path.Combine(demo.Dir, "unnamed.onnx");
        File.WriteAllBytes(unnamed, Google.Protobuf.MessageExtensions.ToByteArray(model));
        var manifest = ModelManifest.FromJson(File.ReadAllText(ModelManifest.PathFor(demo.Model)));
        File.WriteAllText(ModelManifest.PathFor(unnamed), manifest.ToJson());

        Assert.Contains("does not match its manifest", Assert.Throws<InvalidDataException>(() =>
            PostTrainingQuantizer.Run(new QuantizeRequest(unnamed, Path.Combine(demo.Dir, "u8.onnx"), demo.Frames, Frames: 8))).Message);

        File.WriteAllText(ModelManifest.PathFor(unnamed), (manifest with { OnnxSha256 = ModelManifest.Sha256Of(unnamed) }).ToJson());
        var result = PostTrainingQuantizer.Run(new QuantizeRequest(unnamed, Path.Combine(demo.Dir, "u8.onnx"), demo.Frames, Frames: 8, Method: RangeMethod.MinMax));
        Assert.True(result.Written, result.Refusal);
        Assert.Equal(demo.Result.QuantizedLayers, result.QuantizedLayers);
    }

    [Theory]
    [InlineData("minmax", RangeMethod.MinMax)]
    [InlineData(" Percentile-99.99 ", RangeMethod.Percentile9999)]
    [InlineData("percentile-99.999", RangeMethod.Percentile99999)]
    public void Range_methods_are_named_as_the_manifest_writes_them(string name, RangeMethod method)
    {
        Assert.Equal(method, PostTrainingQuantizer.ParseMethod(name));
        Assert.Equal(name.Trim().ToLowerInvariant(), PostTrainingQuantizer.MethodName(method));
        Assert.Contains("minmax, percentile-99.99, percentile-99.999", Assert.Throws<ArgumentException>(() => PostTrainingQuantizer.ParseMethod("entropy")).Message);
    }

    private static float[] OnnxFloats(TensorProto t) => System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(t.RawData.Span).ToArray();
}
