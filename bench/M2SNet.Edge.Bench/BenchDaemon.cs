using Grpc.Core;
using M2SNet.Edge.Protocol;
using M2SNet.Edge.Protocol.V1;

namespace M2SNet.Edge.Bench;

/// <summary>What the daemon benchmarks wait for before measuring.</summary>
internal static class BenchDaemon
{
    /// <summary>Until the daemon is ready and its pipeline segments frames (the first run also writes the sample video).</summary>
    public static async Task<DaemonInfo> WaitUntilStreamingAsync(DaemonConnection channel)
    {
        var client = channel.Segmentation;
        var waited = System.Diagnostics.Stopwatch.StartNew();
        DaemonInfo info;
        while (!(info = await client.GetInfoAsync(new GetInfoRequest()).ConfigureAwait(false)).Ready || info.PipelineFps < 1)
        {
            if (waited.Elapsed > TimeSpan.FromMinutes(10)) throw new InvalidOperationException($"the daemon is not streaming: {info.NotReadyReason} {info.Source.State}");
            await Task.Delay(200).ConfigureAwait(false);
        }
        return info;
    }
}
