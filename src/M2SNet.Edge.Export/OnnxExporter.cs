using System.Reflection;
using M2SNet.Edge.Models;
using M2SNet.Edge.Models.Networks;
using M2SNet.Edge.Onnx;
using M2SNet.Edge.Inference;
using Microsoft.ML.OnnxRuntime;
using static M2SNet.Edge.Torch.torch;

namespace M2SNet.Edge.Export;

/// <summary>What to export and how.</summary>
/// <param name="Architecture">Registry name (m2snet, msnet, chnet).</param>
/// <param name="OutputPath">The .onnx file; the manifest goes beside it as .json.</param>
/// <param name="Size">Nominal input size (square, a multiple of 32); height and width stay dynamic in the graph.</param>
/// <param name="VerifyBatch">Batch of the random input used for the parity check.</param>
public sealed record ExportRequest(
    string Architecture,
    string OutputPath,
    int Size = 352,
    GraphForm Form = GraphForm.Optimised,
    bool Float16Weights = false,
    bool SigmoidHead = false,
    string Version = "1.0.0",
    int VerifyBatch = 1,
    ModelManifest.TrainingSummary? Training = null,
    IReadOnlyDictionary<string, double>? Validation = null);

/// <summary>The exported files and how closely ONNX Runtime reproduced libtorch.</summary>
public sealed record ExportResult(
    string OnnxPath,
    string ManifestPath,
    ModelManifest Manifest,
    double MaxAbsDiff,
    double OutputAbsMax,
    double Tolerance,
    string ComparedIn,
    int Nodes,
    long Bytes);

/// <summary>A parity check that failed: the export is not kept.</summary>
public sealed class ExportVerificationException(string message) : Exception(message);

/// <summary>
/// Exports a network of the zoo to ONNX (opset 17) through its own forward pass, then loads the
/// file with ONNX Runtime and compares it with the libtorch forward on a random input. A mismatch
/// beyond tolerance deletes the file; a success writes the manifest with a golden pair.
/// </summary>
public static class OnnxExporter
{
    public const string InputName = "image";
    public const int SizeMultiple = 32;
    private const int GoldenSize = 64;

    public static string Version { get; } =
        typeof(OnnxExporter).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "0";

    public static ExportResult Export(ISegmentationNetwork network, ExportRequest request, IProgress<string>? progress = null)
    {
        var spec = ModelRegistry.Get(request.Architecture);
        if (request.Size < SizeMultiple || request.Size % SizeMultiple != 0)
        {
            throw new ArgumentException($"the input size must be a positive multiple of {SizeMultiple}, not {request.Size}");
        }
        var onnxPath = Path.GetFullPath(request.OutputPath);
        var manifestPath = ModelManifest.PathFor(onnxPath);
        EnsureWritable(onnxPath);

        var module = (nn.Module)network;
        var wasTraining = module.training;
        module.eval();
        var temp = onnxPath + ".partial";
        try
        {
            progress?.Report($"building the {request.Form.ToString().ToLowerInvariant()} graph");
            var (bytes, nodes, outputName) = BuildGraph(network, spec, request);
            File.WriteAllBytes(temp, bytes);

            progress?.Report("verifying with ONNX Runtime against libtorch");
            var (maxAbs, absmax, tolerance, space) = Verify(network, temp, request);
            if (maxAbs > tolerance)
            {
                throw new ExportVerificationException(
                    $"ONNX Runtime and libtorch disagree: max |diff| {maxAbs:E2} in {space} exceeds {tolerance:E2} (output absmax {absmax:G4}); no file was written");
            }

            progress?.Report("recording the golden input and output");
            var golden = Golden(temp, request.SigmoidHead);
            File.Move(temp, onnxPath, overwrite: true);
            var sha = ModelManifest.Sha256Of(onnxPath);
            var manifest = new ModelManifest
            {
                ModelId = $"{spec.Name}-{sha[..8]}",
                Architecture = spec.Name,
                Version = request.Version,
                CreatedUtc = DateTimeOffset.UtcNow,
                Exporter = new ModelManifest.ExporterInfo("M2SNet.Edge.Export", Version, OnnxGraphBuilder.DefaultOpset,
                    request.Form.ToString().ToLowerInvariant(), request.Float16Weights ? "float16" : "float32", maxAbs),
                Input = new ModelManifest.InputSpec(InputName, "NCHW", "float32", [1, 3, request.Size, request.Size],
                    ["batch", "height", "width"], SizeMultiple, "RGB", 1.0 / 255, spec.Mean, spec.Std),
                Output = new ModelManifest.OutputSpec(outputName, request.SigmoidHead ? "probability" : "logits",
                    [1, 1, request.Size, request.Size], 0.5),
                OnnxFile = Path.GetFileName(onnxPath),
                OnnxSha256 = sha,
                OnnxBytes = new FileInfo(onnxPath).Length,
                Training = request.Training,
                Validation = request.Validation,
                Golden = golden,
            };
            File.WriteAllText(manifestPath + ".partial", manifest.ToJson());
            File.Move(manifestPath + ".partial", manifestPath, overwrite: true);
            return new ExportResult(onnxPath, manifestPath, manifest, maxAbs, absmax, tolerance, space, nodes, manifest.OnnxBytes);
        }
        catch
        {
            File.Delete(temp);
            throw;
        }
        finally
        {
            module.train(wasTraining);
        }
    }

    /// <summary>The graph alone, for inspection and benchmarks: serialized model, node count, output name.</summary>
    public static (byte[] Bytes, int Nodes, string Output) BuildGraph(ISegmentationNetwork network, ModelSpec spec, ExportRequest request)
    {
        var module = (nn.Module)network;
        if (module.training) throw new InvalidOperationException("export needs the network in eval mode (running batch-norm statistics)");
        var names = module.named_modules().Where(m => m.name.Length > 0)
            .ToDictionary(m => m.module, m => m.name, ReferenceEqualityComparer.Instance as IEqualityComparer<nn.Module>);
        var g = new OnnxGraphBuilder(spec.Name);
        var ops = new OnnxOps(g, request.Form, names);
        var image = ops.Input(g.Input(InputName, TensorElementKind.Float, "batch", 3, "height", "width"), 3);
        using (no_grad())
        {
            var y = network.Forward(ops, image);
            if (request.SigmoidHead) y = ops.Sigmoid(y);
            var outputName = request.SigmoidHead ? "probability" : "logits";
            g.Node("Identity", [y], outputName);
            g.Output(outputName, TensorElementKind.Float, "batch", 1, "height", "width");
            ops.Finish(request.Float16Weights);
            var metadata = new Dictionary<string, string>
            {
                ["m2snet.architecture"] = spec.Name,
                ["m2snet.version"] = request.Version,
                ["m2snet.graph"] = request.Form.ToString().ToLowerInvariant(),
            };
            var model = g.Build(Version, metadata);
            return (Google.Protobuf.MessageExtensions.ToByteArray(model), g.NodeCount, outputName);
        }
    }

    private static (double MaxAbs, double AbsMax, double Tolerance, string Space) Verify(ISegmentationNetwork network, string onnxPath, ExportRequest request)
    {
        var shape = new long[] { request.VerifyBatch, 3, request.Size, request.Size };
        var input = RandomImage(shape, seed: 20_231_116);
        float[] expected;
        using (var scope = NewDisposeScope())
        using (no_grad())
        {
            expected = network.forward(tensor(input, shape)).data<float>();
        }
        var actual = RunOnnx(onnxPath, input, shape);

        // Half-precision weights move the logits by design: judge them where the decision is made,
        // on the probability. A sigmoid head is compared on the probability too.
        var inProbability = request.Float16Weights || request.SigmoidHead;
        double maxAbs = 0, absmax = 0;
        for (var i = 0; i < expected.Length; i++)
        {
            var e = inProbability ? Sigmoid(expected[i]) : expected[i];
            var a = inProbability && !request.SigmoidHead ? Sigmoid(actual[i]) : actual[i];
            maxAbs = Math.Max(maxAbs, Math.Abs(a - e));
            absmax = Math.Max(absmax, Math.Abs(e));
        }
        // Half-precision weights are lossy by choice: a pixel near the decision boundary may move by a few
        // hundredths; 0.1 still catches a broken graph, which moves whole regions to the other side.
        var tolerance = request.Float16Weights ? 0.1 : inProbability ? 1e-4 : Math.Max(1e-3, 2e-5 * absmax);
        return (maxAbs, absmax, tolerance, inProbability ? "probability" : "logits");
    }

    private static ModelManifest.GoldenPair Golden(string onnxPath, bool probability)
    {
        long[] shape = [1, 3, GoldenSize, GoldenSize];
        // The daemon compares in probability space: 0.02 covers execution providers that run in float16.
        return Golden(File.ReadAllBytes(onnxPath), RandomImage(shape, seed: 7), shape, probability, 0.02);
    }

    /// <summary>The golden pair of a model: <paramref name="input"/> and what ONNX Runtime on the CPU gives for it.</summary>
    public static ModelManifest.GoldenPair Golden(byte[] model, float[] input, long[] shape, bool probability, double tolerance)
    {
        var output = RunOnnx(model, input, shape);
        return new ModelManifest.GoldenPair(shape, ModelManifest.GoldenPair.Encode(input), [1, 1, shape[2], shape[3]],
            ModelManifest.GoldenPair.Encode(output), probability ? "probability" : "logits", tolerance);
    }

    private static float[] RunOnnx(string onnxPath, float[] input, long[] shape) => RunOnnx(File.ReadAllBytes(onnxPath), input, shape);

    private static float[] RunOnnx(byte[] model, float[] input, long[] shape)
    {
        using var session = ProviderSession.Create(model, new SessionSettings { IntraOpNumThreads = Math.Min(Environment.ProcessorCount, 4) });
        using var value = OrtValue.CreateTensorValueFromMemory(input, shape);
        using var outputs = session.Run(ProviderSession.DefaultRun, [InputName], [value], [session.OutputNames[0]]);
        return outputs[0].GetTensorDataAsSpan<float>().ToArray();
    }

    /// <summary>An image-like input: pixels uniform in 0–255, normalised with the ImageNet statistics.</summary>
    public static float[] RandomImage(long[] shape, int seed)
    {
        var rng = new Random(seed);
        var data = new float[shape.Aggregate(1L, (a, b) => a * b)];
        var plane = shape[2] * shape[3];
        for (var i = 0; i < data.Length; i++)
        {
            var c = (int)(i / plane % 3);
            data[i] = (float)((rng.Next(256) / 255.0 - ModelRegistry.ImageNetMean[c]) / ModelRegistry.ImageNetStd[c]);
        }
        return data;
    }

    private static double Sigmoid(double x) => 1 / (1 + Math.Exp(-x));

    private static void EnsureWritable(string path)
    {
        var dir = Path.GetDirectoryName(path)!;
        try
        {
            Directory.CreateDirectory(dir);
            var probe = Path.Combine(dir, $".m2s-write-test-{Environment.ProcessId}");
            File.WriteAllBytes(probe, []);
            File.Delete(probe);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"cannot write to {dir}: {e.Message}", e);
        }
    }
}
