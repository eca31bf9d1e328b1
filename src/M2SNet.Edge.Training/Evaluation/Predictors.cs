using M2SNet.Edge.Models;
using M2SNet.Edge.Models.Networks;
using M2SNet.Edge.Onnx;
using M2SNet.Edge.Inference;
using Microsoft.ML.OnnxRuntime;
using M2SNet.Edge.OpenCv;
using static M2SNet.Edge.Torch.torch;

namespace M2SNet.Edge.Training.Evaluation;

/// <summary>Gives the lesion probability of every pixel of an image, at the image's own size.</summary>
public interface IPredictor : IDisposable
{
    string Description { get; }

    /// <summary>Probabilities in [0, 1], row-major, <paramref name="image"/>'s height × width.</summary>
    float[] Predict(Mat image);
}

/// <summary>
/// The authors' test-time pipeline around a model: resize to the model's size, BGR → RGB, ImageNet
/// normalisation, the network, logits resized back to the image's size (bilinear), sigmoid.
/// </summary>
public abstract class PredictorBase(int size, float[] mean, float[] std) : IPredictor
{
    private readonly Mat _rgb = new();
    private readonly Mat _resized = new();

    public int Size { get; } = size;

    public abstract string Description { get; }

    public float[] Predict(Mat image) => LogitsToProbability(Run(Preprocess(image)), image.Rows, image.Cols);

    /// <summary>The network's input for an image (BGR, any size): [1, 3, S, S], RGB, normalised.</summary>
    public float[] Preprocess(Mat image)
    {
        var input = new float[3 * Size * Size];
        Cv2.CvtColor(image, _rgb, ColorConversionCodes.BGR2RGB);
        Cv2.Resize(_rgb, _resized, new Size(Size, Size), InterpolationFlags.Linear);
        var px = _resized.AsSpan<byte>();
        var plane = Size * Size;
        for (var c = 0; c < 3; c++)
        {
            var scale = 1f / (255f * std[c]);
            var offset = mean[c] / std[c];
            for (var i = 0; i < plane; i++) input[c * plane + i] = px[3 * i + c] * scale - offset;
        }
        return input;
    }

    /// <summary>The network on one normalised image [1, 3, S, S]; logits [S·S].</summary>
    protected abstract float[] Run(float[] input);

    public virtual void Dispose()
    {
        _rgb.Dispose();
        _resized.Dispose();
        GC.SuppressFinalize(this);
    }

    private float[] LogitsToProbability(float[] logits, int height, int width)
    {
        using var small = Mat.FromPixels<float>(Size, Size, MatType.CV_32FC1, logits);
        using var full = new Mat();
        Cv2.Resize(small, full, new Size(width, height), InterpolationFlags.Linear);
        var values = full.AsSpan<float>().ToArray();
        for (var i = 0; i < values.Length; i++) values[i] = 1f / (1f + MathF.Exp(-values[i]));
        return values;
    }
}

/// <summary>A network of the zoo with its weights, on libtorch.</summary>
public sealed class TorchPredictor : PredictorBase
{
    private readonly nn.Module _network;

    public TorchPredictor(ModelSpec spec, string checkpoint, int size) : base(size, spec.Mean, spec.Std)
    {
        set_num_threads(Environment.ProcessorCount);
        _network = (nn.Module)spec.Create();
        Checkpoint.LoadNetwork((ISegmentationNetwork)_network, Checkpoint.Load(checkpoint));
        _network.eval();
        Description = $"{spec.Name} ({Path.GetFileName(checkpoint)}) on libtorch at {size}x{size}";
    }

    public override string Description { get; }

    protected override float[] Run(float[] input)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        return ((ISegmentationNetwork)_network).forward(tensor(input, [1, 3, Size, Size])).data<float>();
    }

    public override void Dispose()
    {
        _network.Dispose();
        base.Dispose();
    }
}

/// <summary>An exported model (ONNX + manifest) on ONNX Runtime: what the appliance runs.</summary>
public sealed class OnnxPredictor : PredictorBase
{
    private readonly ProviderSession _session;
    private readonly bool _probability;
    private readonly string _input;
    private readonly string _output;

    public OnnxPredictor(string onnxPath, ModelManifest manifest, int? size = null)
        : this(ProviderSession.Create(onnxPath), manifest, size, Path.GetFileName(onnxPath))
    {
    }

    /// <summary>A graph held in memory (one being made, before it is written).</summary>
    public OnnxPredictor(byte[] model, ModelManifest manifest, string label, SessionSettings? settings = null)
        : this(ProviderSession.Create(model, settings), manifest, null, label)
    {
    }

    private OnnxPredictor(ProviderSession session, ModelManifest manifest, int? size, string label)
        : base(size ?? (int)manifest.Input.Shape[2], manifest.Input.Mean, manifest.Input.Std)
    {
        _session = session;
        _probability = manifest.Output.Semantics == "probability";
        _input = manifest.Input.Name;
        _output = manifest.Output.Name;
        Description = $"{manifest.ModelId} ({label}) on ONNX Runtime ({_session.ExecutionProvider.Name}) at {Size}x{Size}";
    }

    public override string Description { get; }

    protected override float[] Run(float[] input)
    {
        using var value = OrtValue.CreateTensorValueFromMemory(input, [1, 3, Size, Size]);
        using var outputs = _session.Run(ProviderSession.DefaultRun, [_input], [value], [_output]);
        var y = outputs[0].GetTensorDataAsSpan<float>().ToArray();
        if (_probability)
        {
            // Back to logits so both kinds of model resize the same quantity.
            for (var i = 0; i < y.Length; i++) y[i] = MathF.Log(Math.Clamp(y[i], 1e-7f, 1 - 1e-7f) / (1 - Math.Clamp(y[i], 1e-7f, 1 - 1e-7f)));
        }
        return y;
    }

    public override void Dispose()
    {
        _session.Dispose();
        base.Dispose();
    }
}
