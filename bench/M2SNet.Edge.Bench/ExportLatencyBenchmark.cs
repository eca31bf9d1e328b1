using System.Text.Json.Serialization;
using M2SNet.Edge.Export;
using M2SNet.Edge.Models.Networks;
using M2SNet.Edge.Inference;
using Microsoft.ML.OnnxRuntime;
using static M2SNet.Edge.Torch.torch;

namespace M2SNet.Edge.Bench;

/// <summary>
/// ONNX Runtime latency of M2SNet exported in the optimised form against the naive form (the
/// authors' graph), batch 1, interleaved in one run, with the logit difference between the two.
/// </summary>
public static class ExportLatencyBenchmark
{
    public sealed record Report(
        [property: JsonPropertyName("benchmark")] string Benchmark,
        [property: JsonPropertyName("machine")] MachineInfo Machine,
        [property: JsonPropertyName("onnxruntime")] string OnnxRuntime,
        [property: JsonPropertyName("intra_op_threads")] int Threads,
        [property: JsonPropertyName("input_size")] int Size,
        [property: JsonPropertyName("variants")] IReadOnlyDictionary<string, LatencyStats> Variants,
        [property: JsonPropertyName("speedup")] double Speedup,
        [property: JsonPropertyName("max_abs_logit_diff")] double MaxAbsLogitDiff,
        [property: JsonPropertyName("logit_absmax")] double LogitAbsMax,
        [property: JsonPropertyName("nodes")] IReadOnlyDictionary<string, int> Nodes);

    public const string Optimised = "m2snet_optimised";
    public const string Naive = "m2snet_naive";

    public static Report Run(bool quick, int threads, Action<string> progress)
    {
        var size = quick ? 128 : 352;
        var dir = Directory.CreateTempSubdirectory("m2s-bench-export-");
        try
        {
            manual_seed(0); // the same random weights in every run
            using var net = new Models.Networks.M2SNet();
            PrecisionBenchmark.SettleBatchNorm(net);
            progress("exporting both graphs");
            var optimised = OnnxExporter.Export(net, new ExportRequest("m2snet", Path.Combine(dir.FullName, "optimised.onnx"), size));
            var naive = OnnxExporter.Export(net, new ExportRequest("m2snet", Path.Combine(dir.FullName, "naive.onnx"), size, Form: GraphForm.Naive));

            var options = new SessionSettings { IntraOpNumThreads = threads };
            using var fast = ProviderSession.Create(optimised.OnnxPath, options);
            using var slow = ProviderSession.Create(naive.OnnxPath, options);
            var image = OnnxExporter.RandomImage([1, 3, size, size], seed: 3);
            var fastOut = new float[size * size];
            var slowOut = new float[size * size];
            using var input = OrtValue.CreateTensorValueFromMemory(image, [1, 3, size, size]);
            using var a = OrtValue.CreateTensorValueFromMemory(fastOut, [1, 1, size, size]);
            using var b = OrtValue.CreateTensorValueFromMemory(slowOut, [1, 1, size, size]);
            using var fastBinding = fast.CreateIoBinding();
            fastBinding.BindInput("image", input);
            fastBinding.BindOutput("logits", a);
            using var slowBinding = slow.CreateIoBinding();
            slowBinding.BindInput("image", input);
            slowBinding.BindOutput("logits", b);

            var (warmup, iterations) = quick ? (1, 3) : (3, 30);
            var stats = Harness.MeasureInterleaved(
                [new Variant(Naive, () => slow.RunWithBinding(slowBinding)), new Variant(Optimised, () => fast.RunWithBinding(fastBinding))],
                warmup, iterations, progress);
            var diff = fastOut.Zip(slowOut, (x, y) => Math.Abs(x - y)).Max();
            return new Report("onnx-export-latency", MachineInfo.Current(), OrtEnvironment.Instance.Version, threads, size, stats,
                stats[Naive].Median / stats[Optimised].Median, diff, slowOut.Max(Math.Abs),
                new Dictionary<string, int> { [Optimised] = optimised.Nodes, [Naive] = naive.Nodes });
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}
