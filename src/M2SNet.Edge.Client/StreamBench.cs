using Grpc.Core;
using M2SNet.Edge.Protocol;
using M2SNet.Edge.Protocol.V1;

namespace M2SNet.Edge.Client;

/// <summary>What each client of a run measured.</summary>
public sealed record StreamBenchResult(IReadOnlyList<LatencyRecorder> Clients, TimeSpan Duration)
{
    public IEnumerable<FrameLatency> AllFrames => Clients.SelectMany(c => c.Frames);

    public Percentiles Of(Func<FrameLatency, double> quantity) => Percentiles.Of(AllFrames.Select(quantity));

    /// <summary>The rows of the latency table: capture→receive, each stage, the overhead without inference.</summary>
    public IReadOnlyList<(string Name, Percentiles Values)> Table() =>
    [
        ("capture → received", Of(f => f.CaptureToReceive)),
        ("  preprocess", Of(f => f.Preprocess)),
        ("  inference", Of(f => f.Inference)),
        ("  postprocess", Of(f => f.Postprocess)),
        ("  encode", Of(f => f.Encode)),
        ("  queued in hand-offs", Of(f => f.Queued)),
        ("    capture → preprocess", Of(f => f.WaitPreprocess)),
        ("    preprocess → inference", Of(f => f.WaitInference)),
        ("    inference → postprocess", Of(f => f.WaitPostprocess)),
        ("    postprocess → send", Of(f => f.WaitSend)),
        ("  transport (send → received)", Of(f => f.Transport)),
        ("overhead (all but inference)", Of(f => f.Overhead)),
    ];
}

/// <summary>
/// N subscribers of StreamMasks, each on its own connection, for a fixed time: the latency every
/// OR client sees. The first frames of each (warm-up) are not counted.
/// </summary>
public static class StreamBench
{
    public static async Task<StreamBenchResult> RunAsync(Func<DaemonConnection> openChannel, int clients, TimeSpan duration, int warmupFrames,
        MaskOptions maskOptions, IProgress<string>? progress = null, CancellationToken cancel = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(clients, 1);
        var channels = Enumerable.Range(0, clients).Select(_ => openChannel()).ToArray();
        try
        {
            var sameMachine = channels[0].IsLocal;
            var recorders = channels.Select(_ => new LatencyRecorder(sameMachine, warmupFrames)).ToArray();
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancel);
            var started = DateTime.UtcNow;
            var readers = channels.Select((channel, i) => Task.Run(() => ReadAsync(channel, i, recorders[i], maskOptions, stop.Token), CancellationToken.None)).ToArray();
            var reporter = Task.Run(async () =>
            {
                while (!stop.IsCancellationRequested)
                {
                    await Task.Delay(1000, stop.Token).ConfigureAwait(false);
                    var last = recorders.SelectMany(r => r.Frames.TakeLast(30)).Select(f => f.CaptureToReceive).ToArray();
                    if (last.Length > 0)
                    {
                        progress?.Report($"{(DateTime.UtcNow - started).TotalSeconds,4:F0} s  {recorders.Sum(r => r.ReceivedFps) / clients,5:F1} fps per client  " +
                                         $"capture→received p50 {Percentiles.Of(last).P50:F1} ms");
                    }
                }
            }, CancellationToken.None);
            await Task.WhenAny(Task.Delay(duration, cancel), Task.WhenAny(readers)).ConfigureAwait(false);
            await stop.CancelAsync().ConfigureAwait(false);
            try
            {
                await Task.WhenAll(readers).ConfigureAwait(false);
            }
            finally
            {
                try { await reporter.ConfigureAwait(false); } catch (OperationCanceledException) { }
            }
            return new StreamBenchResult(recorders, DateTime.UtcNow - started);
        }
        finally
        {
            foreach (var c in channels) c.Dispose();
        }
    }

    private static async Task ReadAsync(DaemonConnection channel, int index, LatencyRecorder recorder, MaskOptions options, CancellationToken stop)
    {
        var client = channel.Segmentation;
        using var call = client.StreamMasks(new StreamMasksRequest { ClientName = $"m2s-client-bench-{index + 1}", Options = options },
            new CallOptions(cancellationToken: stop));
        try
        {
            while (await call.ResponseStream.MoveNext(stop).ConfigureAwait(false)) recorder.Record(call.ResponseStream.Current);
            throw new RpcException(new Status(StatusCode.Unavailable, "the daemon ended the stream"));
        }
        // Once the bench has asked to stop, how the call ends does not matter: a read in flight when
        // the request is cancelled may surface as UNAVAILABLE ("the request was aborted") rather than
        // CANCELLED, depending on where the cancellation finds it.
        catch (RpcException) when (stop.IsCancellationRequested)
        {
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
    }
}
