using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace M2SNet.Edge.Onnx;

/// <summary>
/// What the appliance needs to know about an exported model, kept next to it as <c>model.json</c>:
/// how to feed it, what it returns, where it came from, the ONNX file's SHA-256, and a golden
/// input/output pair the daemon replays as a self-test before it serves the model.
/// </summary>
public sealed record ModelManifest
{
    public const string CurrentFormat = "m2snet-edge-model/1";

    [JsonPropertyName("format")] public string Format { get; init; } = CurrentFormat;

    /// <summary>Identifies this exact model in every message the daemon sends ("m2snet-1a2b3c4d").</summary>
    [JsonPropertyName("model_id")] public required string ModelId { get; init; }

    [JsonPropertyName("architecture")] public required string Architecture { get; init; }

    [JsonPropertyName("version")] public required string Version { get; init; }

    [JsonPropertyName("created_utc")] public DateTimeOffset CreatedUtc { get; init; }

    [JsonPropertyName("exporter")] public required ExporterInfo Exporter { get; init; }

    [JsonPropertyName("input")] public required InputSpec Input { get; init; }

    [JsonPropertyName("output")] public required OutputSpec Output { get; init; }

    [JsonPropertyName("onnx_file")] public string OnnxFile { get; init; } = "model.onnx";

    [JsonPropertyName("onnx_sha256")] public required string OnnxSha256 { get; init; }

    [JsonPropertyName("onnx_bytes")] public long OnnxBytes { get; init; }

    [JsonPropertyName("training")] public TrainingSummary? Training { get; init; }

    /// <summary>Validation metrics by name (mDice, mIoU, ...), as measured before export.</summary>
    [JsonPropertyName("validation")] public IReadOnlyDictionary<string, double>? Validation { get; init; }

    [JsonPropertyName("golden")] public required GoldenPair Golden { get; init; }

    /// <summary>
    /// What the graph computes in: "float32", "int8" (QDQ, from <c>m2s quantize</c>) or "float16"
    /// (for GPU providers). Manifests written before precision was recorded are float32.
    /// </summary>
    [JsonPropertyName("precision")] public string Precision { get; init; } = Precisions.Float32;

    /// <summary>How a reduced-precision model was made from its float32 original, and how it scored against it.</summary>
    [JsonPropertyName("quantization")] public QuantizationInfo? Quantization { get; init; }

    public static class Precisions
    {
        public const string Float32 = "float32";
        public const string Int8 = "int8";
        public const string Float16 = "float16";
    }

    /// <param name="Method">How activation ranges were chosen ("minmax", "percentile-99.99", ...); "none" for float16.</param>
    /// <param name="FromOnnxSha256">The float32 model it was made from.</param>
    /// <param name="FloatLayers">Layers left in float, each with the reason.</param>
    public sealed record QuantizationInfo(
        [property: JsonPropertyName("method")] string Method,
        [property: JsonPropertyName("activations")] string Activations,
        [property: JsonPropertyName("weights")] string Weights,
        [property: JsonPropertyName("from_onnx_sha256")] string FromOnnxSha256,
        [property: JsonPropertyName("calibration")] CalibrationInfo? Calibration,
        [property: JsonPropertyName("accuracy")] AccuracyInfo Accuracy,
        [property: JsonPropertyName("quantized_layers")] int QuantizedLayers,
        [property: JsonPropertyName("float_layers")] IReadOnlyList<FloatLayerInfo> FloatLayers);

    /// <param name="Sha256">SHA-256 over the calibration frames' names and bytes, in order.</param>
    public sealed record CalibrationInfo(
        [property: JsonPropertyName("source")] string Source,
        [property: JsonPropertyName("frames")] int Frames,
        [property: JsonPropertyName("sha256")] string Sha256);

    /// <param name="Reference">"masks" (the frames' ground truth) or "float32 masks" (the float model's own, thresholded).</param>
    /// <param name="Forced">Written despite a drop over the limit (<c>--force</c>).</param>
    public sealed record AccuracyInfo(
        [property: JsonPropertyName("metric")] string Metric,
        [property: JsonPropertyName("reference")] string Reference,
        [property: JsonPropertyName("source")] string Source,
        [property: JsonPropertyName("frames")] int Frames,
        [property: JsonPropertyName("float32")] double Float32,
        [property: JsonPropertyName("reduced")] double Reduced,
        [property: JsonPropertyName("drop")] double Drop,
        [property: JsonPropertyName("max_drop")] double MaxDrop,
        [property: JsonPropertyName("passed")] bool Passed,
        [property: JsonPropertyName("forced")] bool Forced);

    public sealed record FloatLayerInfo(
        [property: JsonPropertyName("node")] string Node,
        [property: JsonPropertyName("op")] string Op,
        [property: JsonPropertyName("reason")] string Reason);

    public sealed record ExporterInfo(
        [property: JsonPropertyName("name")] string Name,
        [property: JsonPropertyName("version")] string Version,
        [property: JsonPropertyName("opset")] int Opset,
        [property: JsonPropertyName("graph")] string Graph,
        [property: JsonPropertyName("weights")] string Weights,
        [property: JsonPropertyName("parity_max_abs")] double ParityMaxAbs);

    /// <param name="Shape">The nominal shape the daemon feeds, [1, 3, size, size].</param>
    /// <param name="DynamicAxes">Axes the graph leaves open.</param>
    /// <param name="SizeMultiple">Height and width must be multiples of this.</param>
    /// <param name="PixelScale">Pixels (0–255) are multiplied by this before normalisation.</param>
    public sealed record InputSpec(
        [property: JsonPropertyName("name")] string Name,
        [property: JsonPropertyName("layout")] string Layout,
        [property: JsonPropertyName("dtype")] string DType,
        [property: JsonPropertyName("shape")] long[] Shape,
        [property: JsonPropertyName("dynamic_axes")] string[] DynamicAxes,
        [property: JsonPropertyName("size_multiple")] int SizeMultiple,
        [property: JsonPropertyName("color")] string Color,
        [property: JsonPropertyName("pixel_scale")] double PixelScale,
        [property: JsonPropertyName("mean")] float[] Mean,
        [property: JsonPropertyName("std")] float[] Std);

    /// <param name="Semantics">"logits" (apply a sigmoid) or "probability".</param>
    /// <param name="Threshold">Probability above which a pixel is lesion.</param>
    public sealed record OutputSpec(
        [property: JsonPropertyName("name")] string Name,
        [property: JsonPropertyName("semantics")] string Semantics,
        [property: JsonPropertyName("shape")] long[] Shape,
        [property: JsonPropertyName("threshold")] double Threshold);

    public sealed record TrainingSummary(
        [property: JsonPropertyName("data")] string Data,
        [property: JsonPropertyName("images")] int Images,
        [property: JsonPropertyName("epochs")] int Epochs,
        [property: JsonPropertyName("notes")] string? Notes);

    /// <summary>
    /// A small input and the output the model must give for it, float32 little-endian in base64.
    /// A replay passes when every pixel's probability is within <see cref="ToleranceProbability"/>.
    /// </summary>
    public sealed record GoldenPair(
        [property: JsonPropertyName("input_shape")] long[] InputShape,
        [property: JsonPropertyName("input_f32")] string InputBase64,
        [property: JsonPropertyName("output_shape")] long[] OutputShape,
        [property: JsonPropertyName("output_f32")] string OutputBase64,
        [property: JsonPropertyName("output_semantics")] string OutputSemantics,
        [property: JsonPropertyName("tolerance_probability")] double ToleranceProbability)
    {
        public float[] Input() => Decode(InputBase64);

        public float[] Output() => Decode(OutputBase64);

        public static string Encode(ReadOnlySpan<float> values) => Convert.ToBase64String(MemoryMarshal.AsBytes(values));

        private static float[] Decode(string base64) => MemoryMarshal.Cast<byte, float>(Convert.FromBase64String(base64)).ToArray();
    }

    private static readonly JsonSerializerOptions s_json = new() { WriteIndented = true };

    public string ToJson() => JsonSerializer.Serialize(this, s_json);

    public static ModelManifest FromJson(string json) =>
        JsonSerializer.Deserialize<ModelManifest>(json, s_json) ?? throw new InvalidDataException("the manifest is empty");

    /// <summary>Where the manifest of an ONNX file lives: model.onnx → model.json.</summary>
    public static string PathFor(string onnxPath) => Path.ChangeExtension(onnxPath, ".json");

    public static string Sha256Of(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }
}
