using M2SNet.Edge.Models;
using M2SNet.Edge.Models.Losses;
using M2SNet.Edge.Models.Networks;
using M2SNet.Edge.Torch;
using M2SNet.Edge.Torch.Distributed;
using static M2SNet.Edge.Torch.torch;

using M2SNet.Edge.TestSupport;

namespace M2SNet.Edge.Training.Tests;

/// <summary>
/// Data parallelism as the trainer does it, step by step: two ranks (threads) of M2SNet-S on
/// loopback, each with its own micro-batch, gradients averaged by c10d after backward, then SGD.
/// </summary>
public sealed class DataParallelTests
{
    private const int Steps = 3;

    [Fact]
    public async Task Two_ranks_stay_bitwise_identical_and_match_one_process_averaging_both_micro_batches()
    {
        Assert.SkipUnless(ProcessGroup.IsAvailable("gloo"), "the shim was built without gloo");
        var spec = ModelRegistry.Get("m2snet-s");
        var rng = new Random(11);
        var batches = Enumerable.Range(0, Steps).Select(_ => Enumerable.Range(0, 2).Select(_ =>
            (X: Enumerable.Range(0, 3 * 64 * 64).Select(_ => (float)(rng.NextDouble() * 4 - 2)).ToArray(),
             Y: Enumerable.Range(0, 64 * 64).Select(_ => rng.NextDouble() > 0.7 ? 1f : 0f).ToArray())).ToArray()).ToArray();
        var port = Ffmpeg.FreePort();

        // Different starts: the broadcast must make them one. The one-process reference starts as a
        // copy of rank 0 (libtorch's generator is global, and tests beside this one draw from it too).
        var networks = new[] { Create(spec, seed: 1), Create(spec, seed: 2) };
        using var single = Create(spec, seed: 3);
        using (no_grad())
        {
            foreach (var (to, from) in single.parameters().Zip(networks[0].parameters())) to.copy_(from);
            foreach (var (to, from) in single.named_buffers().Zip(networks[0].named_buffers())) to.buffer.copy_(from.buffer);
        }

        // Every rank's parameters after every step.
        var ranks = Enumerable.Range(0, 2).Select(rank => Task.Factory.StartNew(() =>
        {
            using var group = ProcessGroup.Init("gloo", "127.0.0.1", port, 2, rank, TimeSpan.FromSeconds(60));
            using var net = networks[rank];
            group.Broadcast([.. net.parameters(), .. net.named_buffers().Select(b => b.buffer)], root: 0);
            using var sgd = Optimiser(net);
            var snapshots = new List<float[]>();
            for (var s = 0; s < Steps; s++)
            {
                using var scope = NewDisposeScope();
                sgd.zero_grad();
                var (x, y) = batches[s][rank];
                StructureLoss.Compute(((ISegmentationNetwork)net).forward(tensor(x, [1, 3, 64, 64])), tensor(y, [1, 1, 64, 64])).backward();
                group.AllReduceMean([.. net.parameters().Select(p => p.grad).OfType<Tensor>()]);
                sgd.step();
                snapshots.Add(Flat(net));
            }
            return snapshots;
        }, TaskCreationOptions.LongRunning)).ToArray();
        var results = await Task.WhenAll(ranks).WaitAsync(TimeSpan.FromMinutes(5), TestContext.Current.CancellationToken);

        // One process: the gradients of the two micro-batches, averaged, then the same step.
        using var optimiser = Optimiser(single);
        for (var s = 0; s < Steps; s++)
        {
            using var scope = NewDisposeScope();
            var sums = single.parameters().Select(p => zeros(p.shape)).ToArray();
            foreach (var (x, y) in batches[s])
            {
                optimiser.zero_grad();
                StructureLoss.Compute(((ISegmentationNetwork)single).forward(tensor(x, [1, 3, 64, 64])), tensor(y, [1, 1, 64, 64])).backward();
                using (no_grad())
                {
                    var parameters = single.parameters().ToArray();
                    // (A parameter the forward pass does not reach has no gradient, on the ranks either.)
                    for (var i = 0; i < parameters.Length; i++) if (parameters[i].grad is { } g) sums[i].add_(g);
                }
            }
            using (no_grad())
            {
                var parameters = single.parameters().ToArray();
                for (var i = 0; i < parameters.Length; i++) parameters[i].grad?.copy_(sums[i] / 2);
            }
            optimiser.step();

            Assert.Equal(results[0][s], results[1][s]); // bitwise: the same floats on both ranks
            var reference = Flat(single);
            var worst = reference.Zip(results[0][s], (a, b) => Math.Abs(a - b)).Max();
            Assert.True(worst <= 1e-6, $"step {s + 1}: ranks and one process differ by {worst:E2}");
        }
    }

    private static nn.Module Create(ModelSpec spec, int seed)
    {
        manual_seed((ulong)seed);
        var net = (nn.Module)spec.Create();
        net.train();
        return net;
    }

    private static optim.SGD Optimiser(nn.Module net) =>
        new([new optim.ParamGroup("all", [.. net.parameters()], 0.05)], momentum: 0.9, weight_decay: 5e-4, nesterov: true);

    private static float[] Flat(nn.Module net) => [.. net.parameters().SelectMany(p => p.data<float>())];

}
