using M2SNet.Edge.Torch.Distributed;
using static M2SNet.Edge.Torch.torch;

using M2SNet.Edge.TestSupport;

namespace M2SNet.Edge.Torch.Tests;

/// <summary>libtorch's c10d (gloo, TCPStore) through the shim: two ranks as two threads on loopback.</summary>
public sealed class ProcessGroupTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);


    /// <summary>Runs <paramref name="body"/> as each of <paramref name="world"/> ranks, each on its own thread, and returns their results.</summary>
    private static async Task<T[]> Ranks<T>(int world, Func<ProcessGroup, T> body)
    {
        var port = Ffmpeg.FreePort();
        var ranks = Enumerable.Range(0, world).Select(rank => Task.Factory.StartNew(() =>
        {
            using var group = ProcessGroup.Init("gloo", "127.0.0.1", port, world, rank, Timeout);
            return body(group);
        }, TaskCreationOptions.LongRunning)).ToArray();
        // A safety net against a hang, far beyond the groups' own timeout: not a measure of speed.
        return await Task.WhenAll(ranks).WaitAsync(TimeSpan.FromMinutes(2), TestContext.Current.CancellationToken);
    }

    [Theory]
    [InlineData(ProcessGroup.DefaultBucketBytes)]
    [InlineData(64L)] // a bucket per tensor, and the 3x50 tensor alone over the size
    public async Task All_reduce_gives_every_rank_the_mean_and_broadcast_rank_0s_values(long bucketBytes)
    {
        Assert.SkipUnless(ProcessGroup.IsAvailable("gloo"), "the shim was built without gloo");

        var results = await Ranks(2, group =>
        {
            using var scope = NewDisposeScope();
            group.BucketBytes = bucketBytes;
            var r = group.Rank;
            Tensor[] tensors = [full([3, 50], r + 1.0), tensor(Enumerable.Range(0, 7).Select(i => (float)(i * (r + 1))).ToArray(), [7]), tensor(new[] { 10.0f * r }, [1])];
            group.AllReduceMean(tensors);
            Tensor[] own = [full([2, 2], r * 5.0), ones([4]) * r];
            group.Broadcast(own, root: 0);
            group.Barrier();
            return (tensors.Select(t => t.data<float>()).ToArray(), own.Select(t => t.data<float>()).ToArray(), group.WorldSize);
        });

        foreach (var (reduced, broadcast, world) in results)
        {
            Assert.Equal(2, world);
            Assert.All(reduced[0], v => Assert.Equal(1.5f, v));
            Assert.Equal(Enumerable.Range(0, 7).Select(i => i * 1.5f), reduced[1]);
            Assert.Equal([5f], reduced[2]);
            Assert.All(broadcast[0], v => Assert.Equal(0f, v));
            Assert.All(broadcast[1], v => Assert.Equal(0f, v));
        }
    }

    [Fact]
    public void A_rank_that_never_joins_fails_the_others_within_the_timeout_naming_the_group()
    {
        Assert.SkipUnless(ProcessGroup.IsAvailable("gloo"), "the shim was built without gloo");

        var e = Assert.Throws<TorchException>(() => ProcessGroup.Init("gloo", "127.0.0.1", Ffmpeg.FreePort(), 2, 0, TimeSpan.FromSeconds(1)));

        Assert.Contains("rank 0 of 2 could not join the gloo group at 127.0.0.1:", e.Message);
    }

    [Fact]
    public async Task A_rank_that_leaves_ends_the_others_collective_with_an_error_not_a_hang()
    {
        Assert.SkipUnless(ProcessGroup.IsAvailable("gloo"), "the shim was built without gloo");

        var results = await Ranks(2, group =>
        {
            if (group.Rank == 1)
            {
                group.Barrier();
                group.Dispose(); // leaves: its connections close
                return "left";
            }
            group.Barrier();
            using var t = ones([1000]);
            var e = Assert.Throws<TorchException>(() => group.AllReduceMean([t]));
            return e.Message;
        });

        Assert.StartsWith("rank 0 of 2: all-reduce failed:", results[0]);
    }

    [Theory]
    [InlineData("mpi", 2, 0, "unknown backend 'mpi' (gloo or nccl)")]
    [InlineData("gloo", 2, 2, "rank 2 is not in a world of 2")]
    [InlineData("nccl", 2, 0, "NCCL needs the rank's CUDA device")]
    public void Bad_arguments_are_one_clear_error(string backend, int world, int rank, string message)
    {
        var e = Assert.Throws<TorchException>(() => ProcessGroup.Init(backend, "127.0.0.1", Ffmpeg.FreePort(), world, rank, TimeSpan.FromSeconds(1)));

        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void NCCL_where_the_shim_or_the_machine_lacks_it_is_refused_at_once_not_after_waiting_for_the_ranks()
    {
        Assert.SkipWhen(ProcessGroup.IsAvailable("nccl"), "this machine runs NCCL");

        // Rank 0 of 2, alone: a refusal that came after the rendezvous would wait the whole hour.
        var e = Assert.Throws<TorchException>(() => ProcessGroup.Init("nccl", "127.0.0.1", Ffmpeg.FreePort(), 2, 0, TimeSpan.FromHours(1), device: 0));

        Assert.Matches("built without NCCL|sees no CUDA device", e.Message);
    }
}
