using System.Text.Json;
using System.Text.Json.Serialization;
using M2SNet.Edge.Export;
using M2SNet.Edge.Inference;
using M2SNet.Edge.Models;
using M2SNet.Edge.Models.Networks;
using M2SNet.Edge.Quantization;
using M2SNet.Edge.Synthetic;
using Microsoft.ML.OnnxRuntime;
using static M2SNet.Edge.Torch.torch;

namespace M2SNet.Edge.Bench;

/// <summary>
/// CPU inference of the three networks at 352, batch 1, in one run: the authors' graph (naive),
/// our optimised float32 export and its int8 quantization, interleaved; frames per second and
/// ratios against the naive graph. Then the bundled demo model quantized from its ONNX file, with
/// its mDice drop on held-out synthetic frames, and a per-operator profile of int8 M2SNet: what
/// bounds its frame rate.
/// </summary>
public static class PrecisionBenchmark
{
    public sealed record ModelFigures(
        [property: JsonPropertyName("architecture")] string Architecture,
        [property: JsonPropertyName("variants")] IReadOnlyDictionary<string, LatencyStats> Variants,
        [property: JsonPropertyName("fps")] IReadOnlyDictionary<string, double> FramesPerSecond,
        [property: JsonPropertyName("int8_vs_naive")] double Int8VsNaive,
        [property: JsonPropertyName("int8_vs_float32")] double Int8VsFloat32,
        [property: JsonPropertyName("float32_vs_naive")] double Float32VsNaive,
        [property: JsonPropertyName("int8_layers")] int Int8Layers,
        [property: JsonPropertyName("float_layers")] int FloatLayers,
        [property: JsonPropertyName("bytes")] IReadOnlyDictionary<string, long> Bytes);

    public sealed record DemoFigures(
        [property: JsonPropertyName("model")] string Model,
        [property: JsonPropertyName("size")] int Size,
        [property: JsonPropertyName("method")] string Method,
        [property: JsonPropertyName("held_out_frames")] int Frames,
        [property: JsonPropertyName("mdice_float32")] double DiceFloat32,
        [property: JsonPropertyName("mdice_int8")] double DiceInt8,
        [property: JsonPropertyName("mdice_drop")] double Drop,
        [property: JsonPropertyName("variants")] IReadOnlyDictionary<string, LatencyStats> Variants,
        [property: JsonPropertyName("int8_vs_float32")] double Int8VsFloat32);

    public sealed record OperatorShare(
        [property: JsonPropertyName("op")] string Op,
        [property: JsonPropertyName("ms_per_frame")] double MillisecondsPerFrame,
        [property: JsonPropertyName("share")] double Share,
        [property: JsonPropertyName("nodes")] int Nodes);

    public sealed record Report(
        [property: JsonPropertyName("benchmark")] string Benchmark,
        [property: JsonPropertyName("machine")] MachineInfo Machine,
        [property: JsonPropertyName("onnxruntime")] string OnnxRuntime,
        [property: JsonPropertyName("intra_op_threads")] int Threads,
        [property: JsonPropertyName("input_size")] int Size,
        [property: JsonPropertyName("quick")] bool Quick,
        [property: JsonPropertyName("models")] IReadOnlyList<ModelFigures> Models,
        [property: JsonPropertyName("demo")] DemoFigures? Demo,
        [property: JsonPropertyName("int8_m2snet_profile")] IReadOnlyList<OperatorShare> Profile,
        [property: JsonPropertyName("int8_m2snet_slowest_nodes")] IReadOnlyList<OperatorShare> SlowestNodes);

    public static readonly IReadOnlyList<string> Architectures = ["m2snet", "msnet", "chnet"];

    public const string Naive = "naive";
    public const string Float32 = "float32";
    public const string Int8 = "int8";

    public static Report Run(bool quick, int threads, string? demoModel, Action<string> progress, IReadOnlyList<string>? architectures = null)
    {
        var size = quick ? 128 : 352;
        var (warmup, iterations) = quick ? (1, 3) : (3, 20);
        var dir = Directory.CreateTempSubdirectory("m2s-bench-precision-");
        try
        {
            progress("writing synthetic calibration frames");
            var frames = Path.Combine(dir.FullName, "frames");
            SyntheticDataset.Write(frames, quick ? 8 : 32, seed: 700_000, new SyntheticOptions(size, size));
            var settings = new SessionSettings { IntraOpNumThreads = threads };
            var models = new List<ModelFigures>();
            IReadOnlyList<OperatorShare> profile = [];
            IReadOnlyList<OperatorShare> slowest = [];
            foreach (var architecture in architectures ?? Architectures)
            {
                var spec = ModelRegistry.Get(architecture);
                manual_seed(0);
                using var net = (nn.Module)spec.Create();
                SettleBatchNorm(net);
                progress($"{architecture}: exporting the naive and optimised graphs");
                var naive = OnnxExporter.Export((ISegmentationNetwork)net, new ExportRequest(architecture, Path.Combine(dir.FullName, $"{architecture}-naive.onnx"), size, GraphForm.Naive));
                var optimised = OnnxExporter.Export((ISegmentationNetwork)net, new ExportRequest(architecture, Path.Combine(dir.FullName, $"{architecture}.onnx"), size));
                progress($"{architecture}: quantizing");
                // Random weights: the accuracy check has nothing to protect here; the demo model below is where it counts.
                var int8 = PostTrainingQuantizer.Run(new QuantizeRequest(optimised.OnnxPath, Path.Combine(dir.FullName, $"{architecture}-int8.onnx"), frames,
                    Frames: quick ? 8 : 32, Force: true, Method: RangeMethod.MinMax));

                var stats = Time([(Naive, naive.OnnxPath), (Float32, optimised.OnnxPath), (Int8, int8.OnnxPath)], size, settings, warmup, iterations,
                    p => progress($"{architecture}: {p}"));
                models.Add(new ModelFigures(architecture, stats, stats.ToDictionary(s => s.Key, s => 1000 / s.Value.Median),
                    stats[Naive].Median / stats[Int8].Median, stats[Float32].Median / stats[Int8].Median, stats[Naive].Median / stats[Float32].Median,
                    int8.QuantizedLayers, int8.FloatLayers.Count,
                    new Dictionary<string, long> { [Naive] = naive.Bytes, [Float32] = optimised.Bytes, [Int8] = int8.Bytes }));
                if (architecture == "m2snet")
                {
                    progress("m2snet: profiling int8 per operator");
                    (profile, slowest) = Profile(int8.OnnxPath, size, threads, quick ? 2 : 10, dir.FullName);
                }
            }
            var demo = demoModel is null ? null : Demo(demoModel, dir.FullName, quick, settings, warmup, iterations, progress);
            return new Report("precision", MachineInfo.Current(), OrtEnvironment.Instance.Version, threads, size, quick, models, demo, profile, slowest);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    private static DemoFigures Demo(string model, string dir, bool quick, SessionSettings settings, int warmup, int iterations, Action<string> progress)
    {
        var manifest = Onnx.ModelManifest.FromJson(File.ReadAllText(Onnx.ModelManifest.PathFor(model)));
        var size = (int)manifest.Input.Shape[2];
        progress("demo model: writing calibration and held-out synthetic frames");
        var calibration = Path.Combine(dir, "demo-calibration");
        var validation = Path.Combine(dir, "demo-validation");
        SyntheticDataset.Write(calibration, quick ? 8 : 48, seed: 500_000, new SyntheticOptions(size, size));
        SyntheticDataset.Write(validation, quick ? 8 : 64, seed: 100_000, new SyntheticOptions(size, size));
        progress("demo model: quantizing");
        var result = PostTrainingQuantizer.Run(new QuantizeRequest(model, Path.Combine(dir, "demo-int8.onnx"), calibration,
            Frames: quick ? 8 : 48, Validation: validation, Force: true));
        var stats = Time([(Float32, model), (Int8, result.OnnxPath)], size, settings, warmup, iterations * 2, p => progress($"demo model: {p}"));
        var a = result.Accuracy;
        return new DemoFigures(manifest.ModelId, size, result.Manifest?.Quantization?.Method ?? "", a.Frames, a.Float32, a.Reduced, a.Drop, stats,
            stats[Float32].Median / stats[Int8].Median);
    }

    private static IReadOnlyDictionary<string, LatencyStats> Time(IReadOnlyList<(string Name, string Path)> models, int size, SessionSettings settings,
        int warmup, int iterations, Action<string> progress)
    {
        var image = OnnxExporter.RandomImage([1, 3, size, size], seed: 3);
        var sessions = new List<IDisposable>();
        try
        {
            var variants = new List<Variant>();
            using var input = OrtValue.CreateTensorValueFromMemory(image, [1, 3, size, size]);
            foreach (var (name, path) in models)
            {
                var session = ProviderSession.Create(path, settings);
                sessions.Add(session);
                var output = OrtValue.CreateTensorValueFromMemory(new float[size * size], [1, 1, size, size]);
                sessions.Add(output);
                var binding = session.CreateIoBinding();
                sessions.Add(binding);
                binding.BindInput(session.InputNames[0], input);
                binding.BindOutput(session.OutputNames[0], output);
                variants.Add(new Variant(name, () => session.RunWithBinding(binding)));
            }
            return Harness.MeasureInterleaved(variants, warmup, iterations, progress);
        }
        finally
        {
            foreach (var d in Enumerable.Reverse(sessions)) d.Dispose();
        }
    }

    /// <summary>ONNX Runtime's own profile of <paramref name="runs"/> runs, summed per operator type; and the slowest nodes (Op is "node (op)").</summary>
    private static (IReadOnlyList<OperatorShare> PerOp, IReadOnlyList<OperatorShare> Slowest) Profile(string model, int size, int threads, int runs, string dir)
    {
        var prefix = Path.Combine(dir, "int8-profile");
        var image = OnnxExporter.RandomImage([1, 3, size, size], seed: 3);
        string file;
        using (var session = ProviderSession.Create(model, new SessionSettings { IntraOpNumThreads = threads, ProfileOutputPathPrefix = prefix }))
        {
            using var input = OrtValue.CreateTensorValueFromMemory(image, [1, 3, size, size]);
            for (var i = 0; i < runs + 1; i++)
            {
                using var _ = session.Run(ProviderSession.DefaultRun, [session.InputNames[0]], [input], [session.OutputNames[0]]);
            }
            file = session.EndProfiling();
        }
        var perOp = new Dictionary<string, (double Micros, HashSet<string> Nodes)>(StringComparer.Ordinal);
        var perNode = new Dictionary<string, double>(StringComparer.Ordinal);
        using var json = JsonDocument.Parse(File.ReadAllText(file));
        foreach (var e in json.RootElement.EnumerateArray())
        {
            if (e.GetProperty("cat").GetString() != "Node" || !e.TryGetProperty("args", out var args) || !args.TryGetProperty("op_name", out var op)) continue;
            var name = e.GetProperty("name").GetString() ?? "";
            if (!name.EndsWith("_kernel_time", StringComparison.Ordinal)) continue;
            var key = op.GetString() ?? "?";
            if (!perOp.TryGetValue(key, out var entry)) perOp[key] = entry = (0, new HashSet<string>(StringComparer.Ordinal));
            perOp[key] = (entry.Micros + e.GetProperty("dur").GetDouble(), entry.Nodes);
            entry.Nodes.Add(name);
            var node = $"{name[..^"_kernel_time".Length]} ({key})";
            perNode[node] = perNode.GetValueOrDefault(node) + e.GetProperty("dur").GetDouble();
        }
        var total = perOp.Values.Sum(v => v.Micros);
        // Averaged over every run, the first (with its allocations) included.
        return (perOp.OrderByDescending(p => p.Value.Micros)
            .Select(p => new OperatorShare(p.Key, p.Value.Micros / 1000 / (runs + 1), total > 0 ? p.Value.Micros / total : 0, p.Value.Nodes.Count))
            .ToList(),
            perNode.OrderByDescending(p => p.Value).Take(15)
            .Select(p => new OperatorShare(p.Key, p.Value / 1000 / (runs + 1), total > 0 ? p.Value / total : 0, 1)).ToList());
    }

    /// <summary>Running batch-norm statistics from two training-mode batches, as a trained network has them.</summary>
    internal static void SettleBatchNorm(nn.Module net)
    {
        manual_seed(0);
        net.train();
        using (var scope = NewDisposeScope())
        using (no_grad())
        {
            for (var i = 0; i < 2; i++) ((ISegmentationNetwork)net).forward(randn([2, 3, 128, 128]));
        }
        net.eval();
    }
}
