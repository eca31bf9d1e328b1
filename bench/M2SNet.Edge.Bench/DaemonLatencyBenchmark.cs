using System.Text.Json.Serialization;
using M2SNet.Edge.Client;
using M2SNet.Edge.Daemon;
using M2SNet.Edge.Daemon.Configuration;
using M2SNet.Edge.Protocol.V1;
using M2SNet.Edge.Protocol;

namespace M2SNet.Edge.Bench;

/// <summary>Percentiles of one quantity, in milliseconds.</summary>
public sealed record StageFigures(
    [property: JsonPropertyName("p50_ms")] double P50,
    [property: JsonPropertyName("p95_ms")] double P95,
    [property: JsonPropertyName("p99_ms")] double P99,
    [property: JsonPropertyName("max_ms")] double Max);

public sealed record DaemonRun(
    [property: JsonPropertyName("clients")] int Clients,
    [property: JsonPropertyName("frames")] int Frames,
    [property: JsonPropertyName("fps_per_client")] double FpsPerClient,
    [property: JsonPropertyName("missed_frames")] double MissedFrames,
    [property: JsonPropertyName("gc_collections")] int[] GcCollections,
    [property: JsonPropertyName("gc_pause_ms")] double GcPauseMs,
    [property: JsonPropertyName("stages")] IReadOnlyDictionary<string, StageFigures> Stages);

public sealed record DaemonLatencyReport(
    [property: JsonPropertyName("machine")] MachineInfo Machine,
    [property: JsonPropertyName("source")] string Source,
    [property: JsonPropertyName("model")] string Model,
    [property: JsonPropertyName("provider")] string Provider,
    [property: JsonPropertyName("encoding")] string Encoding,
    [property: JsonPropertyName("intra_op_threads")] int Threads,
    [property: JsonPropertyName("seconds_per_run")] double Seconds,
    [property: JsonPropertyName("runs")] IReadOnlyList<DaemonRun> Runs,
    [property: JsonPropertyName("overhead_to_inference_p50")] double OverheadToInference,
    [property: JsonPropertyName("p99_added_per_extra_client_ms")] double P99AddedPerExtraClient,
    [property: JsonPropertyName("beside_a_stalled_client")] StalledClientEffect BesideStalled);

/// <summary>One reading client next to one that stopped reading, against the 1-client run: ratios near 1 mean no effect.</summary>
public sealed record StalledClientEffect(
    [property: JsonPropertyName("run")] DaemonRun Run,
    [property: JsonPropertyName("fps_ratio_to_alone")] double FpsRatio,
    [property: JsonPropertyName("p50_ratio_to_alone")] double P50Ratio);

/// <summary>
/// End-to-end latency of the daemon, from the capture timestamp to the message in a client's
/// hands, split by stage, with 1 and 8 clients, and 1 beside a client that stopped reading: the real daemon (as m2s-edged composes it) and
/// real gRPC clients on loopback, the 1080p30 bundled sample through the demo model on CPU.
/// </summary>
public static class DaemonLatencyBenchmark
{
    public static readonly int[] ClientCounts = [1, 8];

    /// <param name="settings">Daemon settings over the bench's own (another model, source or providers).</param>
    /// <param name="oneClientOnly">Measure 1 client only (no 8-client run, no stalled client).</param>
    public static async Task<DaemonLatencyReport> RunAsync(bool quick, int threads, MaskEncoding encoding, IProgress<string> progress,
        IReadOnlyDictionary<string, string?>? settings = null, bool oneClientOnly = false)
    {
        var seconds = quick ? 4.0 : 20.0;
        var firmware = Directory.CreateTempSubdirectory("m2s-bench-firmware-").FullName;
        var all = new Dictionary<string, string?>
        {
            ["Daemon:Endpoints:Grpc"] = "http://127.0.0.1:0",
            ["Daemon:Endpoints:Http"] = "",
            ["Daemon:Model:Providers"] = "CPU",
            ["Daemon:Model:Threads"] = threads.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Logging:LogLevel:Default"] = "Warning",
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>()) all[key] = value;
        var app = DaemonHost.Build(DaemonCommandLine.Parse(["--firmware-config", firmware]), all);
        await using (app.ConfigureAwait(false))
        {
            await DaemonHost.StartAsync(app).ConfigureAwait(false);
            var address = DaemonHost.BoundAddresses(app)[0];
            progress.Report("waiting for the daemon (the first run writes the 1080p sample video)");
            DaemonInfo info;
            using (var channel = DaemonConnection.Open(address)) info = await BenchDaemon.WaitUntilStreamingAsync(channel).ConfigureAwait(false);

            async Task<DaemonRun> MeasureAsync(int clients, string label)
            {
                progress.Report($"{label}, {seconds:0} s");
                int[] gcBefore = [GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2)];
                var pauseBefore = GC.GetTotalPauseDuration();
                var result = await StreamBench.RunAsync(() => DaemonConnection.Open(address), clients, TimeSpan.FromSeconds(seconds), warmupFrames: 15,
                    new MaskOptions { Encoding = encoding }, new Progress<string>(line => progress.Report($"{label}: {line.Trim()}"))).ConfigureAwait(false);
                return new DaemonRun(clients, result.AllFrames.Count(), result.Clients.Average(c => c.ReceivedFps), result.Clients.Sum(c => (double)c.Gaps),
                    [GC.CollectionCount(0) - gcBefore[0], GC.CollectionCount(1) - gcBefore[1], GC.CollectionCount(2) - gcBefore[2]],
                    (GC.GetTotalPauseDuration() - pauseBefore).TotalMilliseconds,
                    result.Table().ToDictionary(r => r.Name.Trim(), r => new StageFigures(r.Values.P50, r.Values.P95, r.Values.P99, r.Values.Max)));
            }

            var runs = new List<DaemonRun>();
            foreach (var clients in oneClientOnly ? [1] : ClientCounts) runs.Add(await MeasureAsync(clients, $"{clients} client(s)").ConfigureAwait(false));

            // A client that asks for the heaviest messages (JPEG frame, full-size probabilities), reads
            // one and stops reading: the reading client beside it should not notice.
            DaemonRun besideStalled = runs[0];
            if (!oneClientOnly)
            using (var stalledChannel = DaemonConnection.Open(address))
            using (var stalled = stalledChannel.Segmentation.StreamMasks(new StreamMasksRequest
            {
                ClientName = "bench-stalled",
                Options = new MaskOptions { Encoding = MaskEncoding.ProbabilityU8, IncludeFrameJpeg = true },
            }))
            {
                await stalled.ResponseStream.MoveNext(CancellationToken.None).ConfigureAwait(false);
                besideStalled = await MeasureAsync(1, "1 client beside a stalled one").ConfigureAwait(false);
            }
            await app.StopAsync().ConfigureAwait(false);

            var one = runs[0].Stages;
            var many = runs[^1];
            var stalledEffect = new StalledClientEffect(besideStalled, besideStalled.FpsPerClient / runs[0].FpsPerClient,
                besideStalled.Stages["capture → received"].P50 / one["capture → received"].P50);
            return new DaemonLatencyReport(MachineInfo.Current(), $"{info.Source.Description} {info.Source.Width}x{info.Source.Height} at {info.Source.Fps:0.##} fps",
                info.Model.Id, info.ExecutionProvider, encoding.ToString(), threads, seconds, runs,
                one["overhead (all but inference)"].P50 / one["inference"].P50,
                many.Clients == 1 ? 0 : (many.Stages["overhead (all but inference)"].P99 - one["overhead (all but inference)"].P99) / (many.Clients - 1), stalledEffect);
        }
    }
}
