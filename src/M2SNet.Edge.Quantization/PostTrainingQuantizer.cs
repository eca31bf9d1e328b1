using System.Globalization;
using M2SNet.Edge.Export;
using M2SNet.Edge.Inference;
using M2SNet.Edge.Metrics;
using M2SNet.Edge.Onnx;
using M2SNet.Edge.Onnx.Format;
using M2SNet.Edge.OpenCv;
using M2SNet.Edge.Training.Evaluation;

namespace M2SNet.Edge.Quantization;

/// <summary>The precision a float32 model is reduced to.</summary>
public enum TargetPrecision
{
    /// <summary>8-bit QDQ for CPU integer kernels (VNNI), calibrated on frames.</summary>
    Int8,

    /// <summary>float16 weights and activations, for GPU providers.</summary>
    Float16,
}

/// <summary>What to reduce, on which frames, and how much accuracy may be given up.</summary>
/// <param name="Calibration">Frames the activation ranges are measured on (int8), and the held-out frames' source when <paramref name="Validation"/> is absent.</param>
/// <param name="Frames">At most this many calibration frames, spread over the folder.</param>
/// <param name="MaxDiceDrop">The reduced model's mDice may be at most this far below the float32 one's.</param>
/// <param name="Force">Write it even when the check fails (recorded in the manifest).</param>
public sealed record QuantizeRequest(
    string InputOnnx,
    string OutputOnnx,
    string Calibration,
    TargetPrecision Precision = TargetPrecision.Int8,
    int Frames = 64,
    string? Validation = null,
    bool Force = false,
    double MaxDiceDrop = 0.01,
    RangeMethod? Method = null);

/// <summary>One way of choosing ranges, and how the model it gave scored.</summary>
public sealed record QuantizeTrial(string Method, int FloatValues, double Dice);

/// <summary>The outcome: written or refused, with the check and every trial behind it.</summary>
public sealed record QuantizeResult(
    bool Written,
    string? Refusal,
    string OnnxPath,
    ModelManifest? Manifest,
    ModelManifest.AccuracyInfo Accuracy,
    IReadOnlyList<QuantizeTrial> Trials,
    IReadOnlyList<FloatLayer> FloatLayers,
    int QuantizedLayers,
    long Bytes);

/// <summary>
/// Static post-training quantization of an exported model: calibrate activation ranges on frames
/// through the float graph, write the QDQ graph with each range method, score every candidate
/// against the float model on held-out frames, keep the best, and leave float the activations
/// that measure worst (lowest signal-to-quantization-noise) until the accuracy check passes.
/// A model that fails the check is not written unless forced.
/// </summary>
public static class PostTrainingQuantizer
{
    public const string DiceMetric = "mDice";

    /// <summary>Golden tolerance of a reduced model: its own output on CPU, replayed on whatever provider runs it.</summary>
    public const double GoldenTolerance = 0.05;

    /// <summary>Most float values tried before giving up: beyond a quarter of the network the model is no longer an int8 one.</summary>
    private const double MaxFloatShare = 0.25;

    public static QuantizeResult Run(QuantizeRequest request, IProgress<string>? progress = null)
    {
        var inputPath = Path.GetFullPath(request.InputOnnx);
        if (!File.Exists(inputPath)) throw new FileNotFoundException($"model not found: {inputPath}");
        var manifestPath = ModelManifest.PathFor(inputPath);
        if (!File.Exists(manifestPath)) throw new FileNotFoundException($"{Path.GetFileName(inputPath)} has no manifest {Path.GetFileName(manifestPath)} beside it");
        var manifest = ModelManifest.FromJson(File.ReadAllText(manifestPath));
        if (ModelManifest.Sha256Of(inputPath) != manifest.OnnxSha256)
        {
            throw new InvalidDataException($"{Path.GetFileName(inputPath)} does not match its manifest (SHA-256 differs): the manifest would describe another model");
        }
        if (manifest.Precision != ModelManifest.Precisions.Float32)
        {
            throw new InvalidDataException($"{Path.GetFileName(inputPath)} is already {manifest.Precision}: reduce the float32 model it was made from");
        }
        if (request.MaxDiceDrop < 0) throw new ArgumentOutOfRangeException(nameof(request), "the allowed mDice drop cannot be negative");
        var outputPath = Path.GetFullPath(request.OutputOnnx);
        if (outputPath == inputPath) throw new ArgumentException("the output must not overwrite the float32 model it is made from");

        var graph = OnnxGraph.Parse(File.ReadAllBytes(inputPath));
        var folded = graph.FoldWeightCasts();
        if (folded > 0) progress?.Report($"read {Path.GetFileName(inputPath)}: {graph.Graph.Node.Count} nodes, {folded} float16 weights widened to float32");
        var floatBytes = graph.ToBytes();

        var all = CalibrationFrames.Load(request.Calibration, request.Frames);
        // float16 calibrates nothing: every frame can check it.
        var (calibration, validation) = request.Validation is { } v ? (all, CalibrationFrames.Load(v, request.Frames))
            : request.Precision == TargetPrecision.Float16 ? (all, all) : all.Split();
        progress?.Report((request.Precision == TargetPrecision.Int8 ? $"{calibration.Frames.Count} calibration frames from {calibration.Source}; " : "") +
            $"{validation.Frames.Count} held-out frames" +
            (validation.HasMasks ? " with masks" : " scored against the float32 model's masks"));

        using var reference = new OnnxPredictor(floatBytes, manifest, "float32");
        using var check = AccuracySet.Load(validation, reference);
        var floatDice = check.Score(reference);
        progress?.Report(string.Create(CultureInfo.InvariantCulture, $"float32 {DiceMetric} on the held-out frames: {floatDice:F4}"));

        var trials = new List<QuantizeTrial>();
        byte[] bytes;
        double dice;
        IReadOnlyList<FloatLayer> floatLayers;
        int quantizedLayers;
        string method;
        ModelManifest.CalibrationInfo? calibrationInfo = null;
        if (request.Precision == TargetPrecision.Int8)
        {
            var plan = new QdqPlan(graph);
            if (plan.ConvCount == 0) throw new InvalidDataException("the model has no convolution with constant weights: nothing to quantize");
            var inputs = calibration.Frames.Select(f =>
            {
                using var image = CalibrationFrames.Read(f);
                return reference.Preprocess(image);
            }).ToList();
            var stats = Calibrator.Run(graph, manifest.Input.Name, plan.CalibratedValues(), inputs,
                [1, 3, reference.Size, reference.Size], progress);
            calibrationInfo = new ModelManifest.CalibrationInfo(calibration.Source, calibration.Frames.Count, calibration.Sha256());

            var methods = request.Method is { } only ? [only] : Enum.GetValues<RangeMethod>();
            (byte[] Bytes, double Dice, RangeMethod Method, HashSet<string> Int8)? best = null;
            foreach (var m in methods)
            {
                var ranges = stats.ToDictionary(s => s.Key, s => s.Value.Range(m), StringComparer.Ordinal);
                var candidate = plan.Write(new HashSet<string>(), ranges, out var int8);
                var d = Score(check, candidate, manifest, MethodName(m));
                trials.Add(new QuantizeTrial(MethodName(m), 0, d));
                progress?.Report(string.Create(CultureInfo.InvariantCulture, $"int8 with {MethodName(m)} ranges: {DiceMetric} {d:F4} ({d - floatDice:+0.0000;-0.0000})"));
                if (best is null || d > best.Value.Dice) best = (candidate, d, m, int8);
            }
            var chosen = best!.Value;
            var valueReasons = new Dictionary<string, string>(StringComparer.Ordinal);
            if (floatDice - chosen.Dice > request.MaxDiceDrop)
            {
                // Leave float the activations 8 bits represent worst, doubling their number until the check passes.
                var chosenRanges = stats.ToDictionary(s => s.Key, s => s.Value.Range(chosen.Method), StringComparer.Ordinal);
                var ranked = plan.QuantizedValues(chosen.Int8)
                    .Where(stats.ContainsKey)
                    .Select(x => (Value: x, Sqnr: stats[x].Sqnr(chosenRanges[x])))
                    .OrderBy(x => x.Sqnr).ToList();
                for (var k = 1; k <= Math.Max(1, (int)(ranked.Count * MaxFloatShare)); k *= 2)
                {
                    var keep = ranked.Take(k).ToList();
                    var floatValues = keep.Select(x => x.Value).ToHashSet(StringComparer.Ordinal);
                    var candidate = plan.Write(floatValues, chosenRanges, out var int8);
                    var d = Score(check, candidate, manifest, $"{MethodName(chosen.Method)}, {k} float");
                    trials.Add(new QuantizeTrial(MethodName(chosen.Method), k, d));
                    progress?.Report(string.Create(CultureInfo.InvariantCulture,
                        $"int8 with the {k} activation(s) of lowest SQNR in float (down to {keep[^1].Sqnr:F1} dB): {DiceMetric} {d:F4} ({d - floatDice:+0.0000;-0.0000})"));
                    if (d > chosen.Dice)
                    {
                        chosen = (candidate, d, chosen.Method, int8);
                        valueReasons = keep.ToDictionary(x => x.Value,
                            x => string.Create(CultureInfo.InvariantCulture, $"'{x.Value}' measures {x.Sqnr:F1} dB SQNR in 8 bits, among the {k} lowest; the check needed it float"),
                            StringComparer.Ordinal);
                    }
                    if (floatDice - d <= request.MaxDiceDrop) break;
                }
            }
            bytes = chosen.Bytes;
            dice = chosen.Dice;
            method = MethodName(chosen.Method);
            floatLayers = plan.FloatLayers(chosen.Int8, valueReasons);
            quantizedLayers = chosen.Int8.Count(n => plan.Candidates.Any(c => c.Name == n && c.OpType == "Conv"));
        }
        else
        {
            bytes = Float16Graph.Convert(graph);
            dice = Score(check, bytes, manifest, "float16");
            trials.Add(new QuantizeTrial("float16", 0, dice));
            method = "none";
            floatLayers = [];
            quantizedLayers = graph.Graph.Node.Count(n => n.OpType == "Conv");
        }

        var drop = floatDice - dice;
        var passed = drop <= request.MaxDiceDrop;
        var accuracy = new ModelManifest.AccuracyInfo(DiceMetric, validation.HasMasks ? "masks" : "float32 masks", validation.Source,
            validation.Frames.Count, floatDice, dice, drop, request.MaxDiceDrop, passed, !passed && request.Force);
        var precision = request.Precision == TargetPrecision.Int8 ? ModelManifest.Precisions.Int8 : ModelManifest.Precisions.Float16;
        if (!passed && !request.Force)
        {
            var refusal = string.Create(CultureInfo.InvariantCulture,
                $"the {precision} model scores {DiceMetric} {dice:F4} against float32's {floatDice:F4} on {validation.Frames.Count} held-out frames: a drop of {drop:F4}, over the limit {request.MaxDiceDrop:F4}; nothing was written (--force writes it anyway)");
            return new QuantizeResult(false, refusal, outputPath, null, accuracy, trials, floatLayers, quantizedLayers, 0);
        }

        var written = WithMetadata(bytes, precision);
        var goldenInput = manifest.Golden.Input();
        var golden = OnnxExporter.Golden(written, goldenInput, manifest.Golden.InputShape, manifest.Golden.OutputSemantics == "probability", GoldenTolerance);
        Directory.CreateDirectory(Path.GetDirectoryName(outputPath)!);
        File.WriteAllBytes(outputPath + ".partial", written);
        File.Move(outputPath + ".partial", outputPath, overwrite: true);
        var sha = ModelManifest.Sha256Of(outputPath);
        var reduced = manifest with
        {
            ModelId = $"{manifest.Architecture}-{precision}-{sha[..8]}",
            CreatedUtc = DateTimeOffset.UtcNow,
            Exporter = manifest.Exporter with { Weights = precision },
            OnnxFile = Path.GetFileName(outputPath),
            OnnxSha256 = sha,
            OnnxBytes = written.LongLength,
            Golden = golden,
            Precision = precision,
            Quantization = new ModelManifest.QuantizationInfo(method,
                request.Precision == TargetPrecision.Int8 ? "uint8, per tensor, asymmetric (QuantizeLinear/DequantizeLinear)" : "float16",
                request.Precision == TargetPrecision.Int8 ? "int8, per output channel, symmetric; biases int32" : "float16",
                manifest.OnnxSha256, calibrationInfo, accuracy, quantizedLayers,
                floatLayers.Select(f => new ModelManifest.FloatLayerInfo(f.Node, f.OpType, f.Reason)).ToList()),
        };
        var outManifest = ModelManifest.PathFor(outputPath);
        File.WriteAllText(outManifest + ".partial", reduced.ToJson());
        File.Move(outManifest + ".partial", outManifest, overwrite: true);
        return new QuantizeResult(true, null, outputPath, reduced, accuracy, trials, floatLayers, quantizedLayers, written.LongLength);
    }

    public static string MethodName(RangeMethod method) => method switch
    {
        RangeMethod.MinMax => "minmax",
        RangeMethod.Percentile9999 => "percentile-99.99",
        RangeMethod.Percentile99999 => "percentile-99.999",
        _ => method.ToString(),
    };

    public static RangeMethod ParseMethod(string name)
    {
        foreach (var method in Enum.GetValues<RangeMethod>())
        {
            if (MethodName(method) == name.Trim().ToLowerInvariant()) return method;
        }
        throw new ArgumentException($"unknown range method '{name}': {string.Join(", ", Enum.GetValues<RangeMethod>().Select(MethodName))}");
    }

    private static double Score(AccuracySet check, byte[] model, ModelManifest manifest, string label)
    {
        using var predictor = new OnnxPredictor(model, manifest, label);
        return check.Score(predictor);
    }

    private static byte[] WithMetadata(byte[] model, string precision)
    {
        var proto = ModelProto.Parser.ParseFrom(model);
        var entry = proto.MetadataProps.FirstOrDefault(p => p.Key == "m2snet.precision");
        if (entry is null) proto.MetadataProps.Add(new StringStringEntryProto { Key = "m2snet.precision", Value = precision });
        else entry.Value = precision;
        return Google.Protobuf.MessageExtensions.ToByteArray(proto);
    }

    /// <summary>The held-out frames with what each is scored against, read once.</summary>
    private sealed class AccuracySet : IDisposable
    {
        private readonly List<(Mat Image, float[] Reference)> _items;

        private AccuracySet(List<(Mat, float[])> items) => _items = items;

        public static AccuracySet Load(CalibrationFrames frames, IPredictor reference)
        {
            var items = new List<(Mat, float[])>();
            foreach (var f in frames.Frames)
            {
                var image = CalibrationFrames.Read(f);
                float[] truth;
                if (f.MaskPath is { } maskPath)
                {
                    using var mask = Cv2.ImRead(maskPath, ImreadModes.Grayscale);
                    if (mask.Rows != image.Rows || mask.Cols != image.Cols)
                    {
                        image.Dispose();
                        throw new InvalidDataException($"{f.Name}: the image is {image.Cols}x{image.Rows} but its mask is {mask.Cols}x{mask.Rows}");
                    }
                    truth = mask.AsSpan<byte>().ToArray().Select(b => (float)b).ToArray();
                }
                else
                {
                    truth = reference.Predict(image).Select(p => p > 0.5f ? 1f : 0f).ToArray();
                }
                items.Add((image, truth));
            }
            return new AccuracySet(items);
        }

        /// <summary>Mean Dice (the benchmark's, on the normalised probability) over the frames.</summary>
        public double Score(IPredictor predictor) => _items.Average(item =>
            PolypMetrics.Dice(SegmentationMap.Prepare(predictor.Predict(item.Image), item.Reference, item.Image.Rows, item.Image.Cols)));

        public void Dispose()
        {
            foreach (var (image, _) in _items) image.Dispose();
        }
    }
}
