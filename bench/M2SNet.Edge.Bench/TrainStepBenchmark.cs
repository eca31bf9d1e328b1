using System.Text.Json.Serialization;
using M2SNet.Edge.Models;
using M2SNet.Edge.Models.Losses;
using static M2SNet.Edge.Torch.torch;

namespace M2SNet.Edge.Bench;

/// <summary>
/// One training step of the papers' recipe: M2SNet at batch 2, structure loss + 0.1 × LossNet,
/// backward and an SGD step (Nesterov, weight decay), with the fixed convolutions naive and
/// rewritten, interleaved in one run. Reported as images per second.
/// </summary>
public static class TrainStepBenchmark
{
    public sealed record Report(
        [property: JsonPropertyName("benchmark")] string Benchmark,
        [property: JsonPropertyName("machine")] MachineInfo Machine,
        [property: JsonPropertyName("libtorch")] string LibTorch,
        [property: JsonPropertyName("threads")] int Threads,
        [property: JsonPropertyName("batch")] int Batch,
        [property: JsonPropertyName("input_size")] int Size,
        [property: JsonPropertyName("variants")] IReadOnlyDictionary<string, LatencyStats> Variants,
        [property: JsonPropertyName("images_per_second")] IReadOnlyDictionary<string, double> ImagesPerSecond,
        [property: JsonPropertyName("rewrite_speedup")] double RewriteSpeedup);

    public const string Naive = "train_step_naive";
    public const string Rewritten = "train_step_rewritten";
    private const int Batch = 2;

    public static Report Run(bool quick, int threads, Action<string> progress)
    {
        set_num_threads(threads);
        var size = quick ? 128 : 352;
        manual_seed(0);
        using var net = new Models.Networks.M2SNet();
        using var lossNet = new LossNet();
        using var image = randn([Batch, 3, size, size]).DetachFromDisposeScope();
        using var mask = image.narrow(1, 0, 1).gt(0).to(Torch.ScalarType.Float32).DetachFromDisposeScope();
        var backbone = net.Backbone.parameters().ToHashSet(ReferenceEqualityComparer.Instance);
        using var sgd = new optim.SGD(
        [
            new optim.ParamGroup("backbone", [.. net.parameters().Where(backbone.Contains)], 0.005),
            new optim.ParamGroup("head", [.. net.parameters().Where(p => !backbone.Contains(p))], 0.05),
        ], momentum: 0.9, weight_decay: 5e-4, nesterov: true);
        net.train();

        Action Step(OnesConvolution mode) => () =>
        {
            using var scope = NewDisposeScope();
            net.OnesConvolution = mode;
            sgd.zero_grad();
            var logits = net.forward(image);
            var loss = StructureLoss.Compute(logits, mask) + lossNet.forward(logits.sigmoid(), mask) * 0.1;
            loss.backward();
            sgd.step();
        };
        var (warmup, iterations) = quick ? (1, 2) : (1, 5);
        var stats = Harness.MeasureInterleaved([new Variant(Naive, Step(OnesConvolution.Naive)), new Variant(Rewritten, Step(OnesConvolution.Rewritten))],
            warmup, iterations, progress);
        var ips = stats.ToDictionary(p => p.Key, p => Batch / (p.Value.Median / 1000));
        return new Report("train-step", MachineInfo.Current(), version, threads, Batch, size, stats, ips, stats[Naive].Median / stats[Rewritten].Median);
    }
}
