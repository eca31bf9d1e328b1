using M2SNet.Edge.Onnx;
using M2SNet.Edge.Inference;
using Microsoft.ML.OnnxRuntime;

namespace M2SNet.Edge.Deployment;

/// <summary>Input and output tensors of one inference, pinned and bound once, reused frame after frame.</summary>
public sealed class InferenceBuffers : IDisposable
{
    private readonly OrtIoBinding _binding;
    private readonly OrtValue _input;
    private readonly OrtValue _output;

    internal InferenceBuffers(ProviderSession session, string inputName, string outputName, int height, int width)
    {
        Input = new float[3 * height * width];
        Output = new float[height * width];
        _input = OrtValue.CreateTensorValueFromMemory(Input, [1, 3, height, width]);
        _output = OrtValue.CreateTensorValueFromMemory(Output, [1, 1, height, width]);
        _binding = session.CreateIoBinding();
        _binding.BindInput(inputName, _input);
        _binding.BindOutput(outputName, _output);
    }

    /// <summary>Planar RGB, normalised: [1, 3, H, W].</summary>
    public float[] Input { get; }

    /// <summary>The network's scores: [1, 1, H, W].</summary>
    public float[] Output { get; }

    internal OrtIoBinding Binding => _binding;

    public void Dispose()
    {
        _binding.Dispose();
        _input.Dispose();
        _output.Dispose();
    }
}

/// <summary>
/// The exported network the daemon runs (ONNX + manifest), on the first execution provider of
/// the preference list that loads it. Runs are serialised: the live pipeline and Segment calls
/// share one session and the cores, and interleave frame by frame.
/// </summary>
public sealed class SegmentationModel : IDisposable
{
    private readonly ProviderSession _session;
    private readonly Lock _gate = new();

    private SegmentationModel(string onnxPath, ModelManifest manifest, ProviderSession session)
    {
        Manifest = manifest;
        _session = session;
        Height = (int)manifest.Input.Shape[2];
        Width = (int)manifest.Input.Shape[3];
    }

    public ModelManifest Manifest { get; }

    public ExecutionProvider ExecutionProvider => _session.ExecutionProvider;

    public IReadOnlyList<ProviderFailure> ProviderFailures => _session.ProviderFailures;

    public int Height { get; }

    public int Width { get; }

    public bool OutputsLogits => Manifest.Output.Semantics != "probability";

    public double Threshold => Manifest.Output.Threshold;

    /// <summary>
    /// Loads the ONNX file named by <paramref name="onnxPath"/> and its manifest, checks that the
    /// manifest describes this file (SHA-256) and an input this daemon can feed, and creates the session.
    /// </summary>
    public static SegmentationModel Load(string onnxPath, SessionSettings options)
    {
        if (!File.Exists(onnxPath)) throw new ModelLoadException($"model file not found: {onnxPath}");
        var manifestPath = ModelManifest.PathFor(onnxPath);
        if (!File.Exists(manifestPath)) throw new ModelLoadException($"the model has no manifest: {manifestPath} is missing (export writes it next to the .onnx)");
        ModelManifest manifest;
        try
        {
            manifest = ModelManifest.FromJson(File.ReadAllText(manifestPath));
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or InvalidDataException or ArgumentException or NotSupportedException)
        {
            throw new ModelLoadException($"{manifestPath} is not a valid model manifest: {e.Message}");
        }
        var sha = ModelManifest.Sha256Of(onnxPath);
        if (!string.Equals(sha, manifest.OnnxSha256, StringComparison.OrdinalIgnoreCase))
        {
            throw new ModelLoadException($"{onnxPath} does not match its manifest: SHA-256 {sha}, manifest says {manifest.OnnxSha256}");
        }
        var shape = manifest.Input.Shape;
        if (shape.Length != 4 || shape[1] != 3 || shape[2] < 1 || shape[3] < 1 || manifest.Input.Layout != "NCHW")
        {
            throw new ModelLoadException($"the manifest's input [{string.Join(", ", shape)}] {manifest.Input.Layout} is not a 3-channel NCHW image");
        }

        ProviderSession session;
        try
        {
            session = ProviderSession.Create(onnxPath, PerModel(options, manifest.OnnxSha256));
        }
        catch (Exception e) when (e is OnnxRuntimeException or ExecutionProviderException)
        {
            throw new ModelLoadException($"ONNX Runtime cannot load {onnxPath}: {e.Message}", e);
        }
        if (!session.InputNames.Contains(manifest.Input.Name) || !session.OutputNames.Contains(manifest.Output.Name))
        {
            var names = $"inputs [{string.Join(", ", session.InputNames)}], outputs [{string.Join(", ", session.OutputNames)}]";
            session.Dispose();
            throw new ModelLoadException($"the manifest names input '{manifest.Input.Name}' and output '{manifest.Output.Name}' but the model has {names}");
        }
        return new SegmentationModel(onnxPath, manifest, session);
    }

    /// <summary>TensorRT engines are built for one network: each model caches its own, in a folder named by its ONNX hash.</summary>
    private static SessionSettings PerModel(SessionSettings settings, string onnxSha256) => settings with
    {
        ExecutionProviders = [.. settings.ExecutionProviders.Select(p => p is TensorRTExecutionProvider { EngineCachePath: { } cache } trt
            ? trt with { EngineCachePath = Path.Combine(cache, onnxSha256.ToLowerInvariant()[..Math.Min(16, onnxSha256.Length)]) }
            : p)],
    };

    public InferenceBuffers CreateBuffers() => new(_session, Manifest.Input.Name, Manifest.Output.Name, Height, Width);

    /// <summary>Runs the network on <see cref="InferenceBuffers.Input"/> into <see cref="InferenceBuffers.Output"/>.</summary>
    public void Run(InferenceBuffers buffers)
    {
        lock (_gate) _session.RunWithBinding(buffers.Binding);
    }

    /// <summary>
    /// Replays the manifest's golden pair: every output pixel's probability must be within the
    /// manifest's tolerance. Returns the largest difference; throws with the reason when it fails.
    /// </summary>
    public double SelfTest()
    {
        var golden = Manifest.Golden;
        var input = golden.Input();
        var expected = golden.Output();
        using var x = OrtValue.CreateTensorValueFromMemory(input, golden.InputShape);
        float[] actual;
        lock (_gate)
        {
            using var outputs = _session.Run(ProviderSession.DefaultRun, [Manifest.Input.Name], [x], [Manifest.Output.Name]);
            actual = outputs[0].GetTensorDataAsSpan<float>().ToArray();
        }
        if (actual.Length != expected.Length)
        {
            throw new ModelLoadException($"self-test: the model gave {actual.Length} values for the golden input, the manifest expects {expected.Length}");
        }
        var logits = golden.OutputSemantics != "probability";
        var worst = 0.0;
        for (var i = 0; i < actual.Length; i++)
        {
            var a = logits ? Sigmoid(actual[i]) : actual[i];
            var e = logits ? Sigmoid(expected[i]) : expected[i];
            if (!double.IsFinite(a)) throw new ModelLoadException($"self-test: output {i} is {actual[i]} (not finite)");
            worst = Math.Max(worst, Math.Abs(a - e));
        }
        if (worst > golden.ToleranceProbability)
        {
            throw new ModelLoadException($"self-test failed: the golden output differs by {worst:F4} in probability (tolerance {golden.ToleranceProbability})");
        }
        return worst;
    }

    public void Dispose() => _session.Dispose();

    private static double Sigmoid(double v) => 1 / (1 + Math.Exp(-v));
}

/// <summary>A model that cannot be used, with the reason.</summary>
public sealed class ModelLoadException(string message, Exception? inner = null) : Exception(message, inner);
