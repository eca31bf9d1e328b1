using System.Diagnostics;
using System.Text.Json.Serialization;
using M2SNet.Edge.Models;
using M2SNet.Edge.Models.Losses;
using M2SNet.Edge.Models.Networks;
using M2SNet.Edge.Torch.Distributed;
using static M2SNet.Edge.Torch.torch;

namespace M2SNet.Edge.Bench;

/// <summary>
/// Data-parallel training throughput: M2SNet-S training steps (structure loss, SGD) on one rank,
/// then on two ranks joined by libtorch's c10d (gloo on loopback) with gradients averaged after
/// every backward, each rank with one libtorch thread, alternated in one run. Samples per second,
/// and the scaling efficiency: two ranks' rate over twice one rank's, taken per round from the two
/// runs measured next to each other (their order swapped every round, so drift in the machine's
/// speed falls on both) and reported as the median over rounds with the spread.
/// </summary>
public static class DataParallelBenchmark
{
    public sealed record Report(
        [property: JsonPropertyName("benchmark")] string Benchmark,
        [property: JsonPropertyName("machine")] MachineInfo Machine,
        [property: JsonPropertyName("model")] string Model,
        [property: JsonPropertyName("input_size")] int Size,
        [property: JsonPropertyName("batch_per_rank")] int Batch,
        [property: JsonPropertyName("steps_per_run")] int Steps,
        [property: JsonPropertyName("samples_per_second")] IReadOnlyDictionary<int, double> SamplesPerSecond,
        [property: JsonPropertyName("scaling_efficiency")] double Efficiency,
        [property: JsonPropertyName("round_efficiencies")] IReadOnlyList<double> RoundEfficiencies);

    public static Report Run(bool quick, Action<string> progress)
    {
        var size = quick ? 64 : 224;
        var steps = quick ? 2 : 12;
        const int batch = 2;
        const string model = "m2snet-s";
        set_num_threads(1);
        var rounds = quick ? 1 : 5;
        var rates = new Dictionary<int, List<double>> { [1] = [], [2] = [] };
        var efficiencies = new List<double>();
        for (var round = 0; round < rounds; round++)
        {
            foreach (var world in round % 2 == 0 ? new[] { 1, 2 } : [2, 1])
            {
                progress($"round {round + 1} of {rounds}: {world} rank(s), {steps} steps");
                rates[world].Add(Measure(model, world, size, batch, steps));
            }
            efficiencies.Add(rates[2][^1] / (2 * rates[1][^1]));
        }
        var perSecond = rates.ToDictionary(r => r.Key, r => Median(r.Value));
        return new Report("data-parallel", MachineInfo.Current(), model, size, batch, steps, perSecond, Median(efficiencies), efficiencies);
    }

    // The benchmarks' one percentile definition; the round counts (1 or 5) are odd, so it is the middle value.
    private static double Median(IEnumerable<double> values) => LatencyStats.Percentile([.. values.Order()], 50);

    /// <summary>Samples per second over all ranks for <paramref name="steps"/> steps after one warm-up step.</summary>
    private static double Measure(string model, int world, int size, int batch, int steps)
    {
        var spec = ModelRegistry.Get(model);
        var port = HoldBenchmark.FreePort();
        var networks = Enumerable.Range(0, world).Select(_ =>
        {
            manual_seed(0);
            var net = (nn.Module)spec.Create();
            net.train();
            return net;
        }).ToArray();
        var elapsed = new double[world];
        var ranks = Enumerable.Range(0, world).Select(rank => new Thread(() =>
        {
            using var group = world > 1 ? ProcessGroup.Init("gloo", "127.0.0.1", port, world, rank, TimeSpan.FromMinutes(5)) : null;
            var net = networks[rank];
            using var sgd = new optim.SGD([new optim.ParamGroup("all", [.. net.parameters()], 0.01)], momentum: 0.9, weight_decay: 5e-4, nesterov: true);
            manual_seed((ulong)(100 + rank));
            using var x = randn([batch, 3, size, size]).DetachFromDisposeScope();
            using var y = x.narrow(1, 0, 1).gt(0).to(Torch.ScalarType.Float32).DetachFromDisposeScope();
            var clock = new Stopwatch();
            for (var s = 0; s <= steps; s++)
            {
                if (s == 1)
                {
                    group?.Barrier();
                    clock.Start();
                }
                using var scope = NewDisposeScope();
                sgd.zero_grad();
                StructureLoss.Compute(((ISegmentationNetwork)net).forward(x), y).backward();
                group?.AllReduceMean([.. net.parameters().Select(p => p.grad).OfType<Tensor>()]);
                sgd.step();
            }
            elapsed[rank] = clock.Elapsed.TotalSeconds;
        })).ToArray();
        foreach (var t in ranks) t.Start();
        foreach (var t in ranks) t.Join();
        foreach (var n in networks) n.Dispose();
        return world * batch * steps / elapsed.Max();
    }

}
