using System.Text.Json.Serialization;
using M2SNet.Edge.Models;
using M2SNet.Edge.Models.Losses;
using static M2SNet.Edge.Torch.torch;

namespace M2SNet.Edge.Bench;

/// <summary>
/// M2SNet on libtorch: forward (eval) and forward + backward (train, structure loss) at batch 1
/// and 2, with the all-ones convolutions computed naively and rewritten, interleaved in one run.
/// </summary>
public static class TorchModelBenchmark
{
    public sealed record Report(
        [property: JsonPropertyName("benchmark")] string Benchmark,
        [property: JsonPropertyName("machine")] MachineInfo Machine,
        [property: JsonPropertyName("libtorch")] string LibTorch,
        [property: JsonPropertyName("threads")] int Threads,
        [property: JsonPropertyName("input_size")] int Size,
        [property: JsonPropertyName("variants")] IReadOnlyDictionary<string, LatencyStats> Variants,
        [property: JsonPropertyName("rewrite_speedup")] IReadOnlyDictionary<string, double> RewriteSpeedup);

    public static Report Run(bool quick, int threads, Action<string> progress)
    {
        set_num_threads(threads);
        var size = quick ? 128 : 352;
        using var net = new Models.Networks.M2SNet();
        manual_seed(0);
        using var image1 = randn([1, 3, size, size]).DetachFromDisposeScope();
        using var image2 = randn([2, 3, size, size]).DetachFromDisposeScope();
        using var mask1 = image1.narrow(1, 0, 1).gt(0).to(Torch.ScalarType.Float32).DetachFromDisposeScope();
        using var mask2 = image2.narrow(1, 0, 1).gt(0).to(Torch.ScalarType.Float32).DetachFromDisposeScope();

        Action Forward(Tensor image, OnesConvolution mode) => () =>
        {
            using var scope = NewDisposeScope();
            using var _ = no_grad();
            net.eval();
            net.OnesConvolution = mode;
            net.forward(image);
        };
        Action Step(Tensor image, Tensor mask, OnesConvolution mode) => () =>
        {
            using var scope = NewDisposeScope();
            net.train();
            net.OnesConvolution = mode;
            StructureLoss.Compute(net.forward(image), mask).backward();
            foreach (var p in net.parameters()) p.zero_grad();
        };

        var variants = new List<Variant>();
        foreach (var (batch, image, mask) in new[] { (1, image1, mask1), (2, image2, mask2) })
        {
            foreach (var mode in new[] { OnesConvolution.Naive, OnesConvolution.Rewritten })
            {
                var m = mode == OnesConvolution.Naive ? "naive" : "rewritten";
                variants.Add(new($"forward_b{batch}_{m}", Forward(image, mode)));
                variants.Add(new($"train_step_b{batch}_{m}", Step(image, mask, mode)));
            }
        }
        var (warmup, iterations) = quick ? (1, 2) : (1, 5);
        var stats = Harness.MeasureInterleaved(variants, warmup, iterations, progress);

        var speedup = new Dictionary<string, double>();
        foreach (var kind in new[] { "forward_b1", "forward_b2", "train_step_b1", "train_step_b2" })
        {
            speedup[kind] = stats[$"{kind}_naive"].Median / stats[$"{kind}_rewritten"].Median;
        }
        return new Report("torch-m2snet", MachineInfo.Current(), version, threads, size, stats, speedup);
    }
}
