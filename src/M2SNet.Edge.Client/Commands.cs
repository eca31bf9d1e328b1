using System.CommandLine;
using System.Globalization;
using Grpc.Core;
using M2SNet.Edge.Protocol;
using M2SNet.Edge.Protocol.V1;
using Grpc.Health.V1;
using Spectre.Console;

namespace M2SNet.Edge.Client;

public static class Commands
{
    private static CallOptions Deadline(int seconds = 10) => new(deadline: DateTime.UtcNow.AddSeconds(seconds));

    public static Command Info()
    {
        var command = new Command("info", "The daemon's model, execution provider, source and limits.");
        command.SetAction(async (parse, cancel) =>
        {
            using var channel = Connection.Open(parse);
            var info = await channel.Segmentation.GetInfoAsync(new GetInfoRequest(), Deadline().WithCancellationToken(cancel));
            var grid = new Grid().AddColumn().AddColumn();
            void Row(string k, string v) => grid.AddRow(new Text(k, new Style(Color.Grey)), new Text(v));
            Row("daemon", $"{info.DaemonVersion} at {channel.Address}, up {TimeSpan.FromSeconds(Math.Round(info.UptimeSeconds))}");
            Row("ready", info.Ready ? "yes" : $"no: {info.NotReadyReason}");
            if (info.Model is { } m)
            {
                Row("model", $"{m.Id} {m.Version} ({m.Architecture}, {AdminCommands.PrecisionText(m.Precision)}), input [{string.Join(", ", m.InputShape)}], threshold {m.Threshold}");
                Row("onnx sha256", m.OnnxSha256);
            }
            Row("provider", info.ExecutionProvider + (info.ProviderFailures.Count > 0 ? $" (not used: {string.Join("; ", info.ProviderFailures)})" : ""));
            Row("onnx runtime", info.Onnxruntime);
            Row("source", $"{info.Source.Description} [{info.Source.Kind}] {info.Source.Width}x{info.Source.Height} at {info.Source.Fps:0.##} fps, {info.Source.State}, {info.Source.FramesCaptured} frames");
            Row("pipeline", $"{info.PipelineFps:F1} fps, {info.Subscribers} clients");
            Row("encodings", $"{string.Join(", ", info.Encodings)} (default {info.DefaultEncoding})");
            Row("limits", $"messages {info.MaxReceiveMessageBytes / 1048576.0:0.#} MiB in / {info.MaxSendMessageBytes / 1048576.0:0.#} MiB out, frames up to {info.MaxFrameWidth}x{info.MaxFrameHeight}");
            AnsiConsole.Write(grid);
            return 0;
        });
        return command;
    }

    public static Command Health()
    {
        var service = new Argument<string>("service") { Description = "a service name (empty: the whole daemon)", DefaultValueFactory = _ => "" };
        var command = new Command("health", "grpc.health.v1 status; exit code 0 only when SERVING.") { service };
        command.SetAction(async (parse, cancel) =>
        {
            using var channel = Connection.Open(parse);
            var reply = await channel.Health.CheckAsync(new HealthCheckRequest { Service = parse.GetValue(service)! }, Deadline().WithCancellationToken(cancel));
            Console.WriteLine(reply.Status.ToString());
            return reply.Status == global::Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus.Serving ? 0 : 1;
        });
        return command;
    }

    internal static readonly Option<int> Clients = new("--clients", "-n") { Description = "concurrent subscribers, each on its own connection", DefaultValueFactory = _ => 1 };
    internal static readonly Option<double> Seconds = new("--seconds", "-t") { Description = "how long to measure", DefaultValueFactory = _ => 10 };
    internal static readonly Option<int> Warmup = new("--warmup") { Description = "frames of each client not counted", DefaultValueFactory = _ => 10 };
    internal static readonly Option<MaskEncoding> Encoding = new("--encoding") { Description = "mask encoding: Bitpacked, Rle, Png, ProbabilityU8, None", DefaultValueFactory = _ => MaskEncoding.Bitpacked };
    internal static readonly Option<bool> Jpeg = new("--jpeg") { Description = "ask for the JPEG frame with every mask too" };
    internal static readonly Option<double?> MaxP99 = new("--max-p99-ms") { Description = "exit 3 if capture→received p99 exceeds this (a deployment gate)" };
    internal static readonly Option<FileInfo?> SegmentFrames = new("--segment") { Description = "send this video's frames through Segment (JPEG) instead of subscribing: round trip as a camera-owning client sees it" };
    internal static readonly Option<DirectoryInfo?> Out = new("--out", "-o") { Description = "write bench.json, frames.csv and latency.png into this folder" };

    public static Command Bench()
    {
        var command = new Command("bench", "Subscribe N clients for T seconds; capture→received latency p50/p95/p99/max, split by stage.")
            { Clients, Seconds, Warmup, Encoding, Jpeg, MaxP99, Out, SegmentFrames };
        command.SetAction((parse, cancel) => parse.GetValue(SegmentFrames) is { } video
            ? RunSegmentBenchAsync(parse, video, cancel)
            : RunBenchAsync(parse, () => Connection.Open(parse), cancel));
        return command;
    }

    internal static async Task<int> RunBenchAsync(ParseResult parse, Func<DaemonConnection> open, CancellationToken cancel)
    {
        var clients = parse.GetValue(Clients);
        var seconds = parse.GetValue(Seconds);
        var options = new MaskOptions { Encoding = parse.GetValue(Encoding), IncludeFrameJpeg = parse.GetValue(Jpeg) };
        BenchSetup setup;
        using (var probe = open())
        {
            var info = await probe.Segmentation.GetInfoAsync(new GetInfoRequest(), Deadline().WithCancellationToken(cancel));
            setup = new BenchSetup(probe.Address.ToString(), $"{info.Model?.Id} {info.Model?.Version}", info.ExecutionProvider,
                $"{info.Source.Description} {info.Source.Width}x{info.Source.Height} at {info.Source.Fps:0.##} fps", options.Encoding, options.IncludeFrameJpeg, parse.GetValue(Warmup));
            Console.Error.WriteLine($"m2s-client: {clients} client(s) for {seconds:0.#} s on {probe.Address}: {info.Model?.Id} on {info.ExecutionProvider}, " +
                                    $"source {info.Source.Width}x{info.Source.Height} at {info.Source.Fps:0.##} fps");
        }
        var result = await StreamBench.RunAsync(open, clients, TimeSpan.FromSeconds(seconds), parse.GetValue(Warmup), options,
            new Progress<string>(line => Console.Error.WriteLine("  " + line)), cancel);
        PrintTable(result);
        if (parse.GetValue(Out) is { } folder && result.AllFrames.Any())
        {
            foreach (var file in BenchReport.Write(result, setup, folder.FullName)) Console.WriteLine($"wrote {file}");
        }
        return Gate(parse, "capture→received", result.Of(f => f.CaptureToReceive).P99);
    }

    /// <summary>The deployment gate: exit code 3 when the measured p99 is above --max-p99-ms (or not a number).</summary>
    private static int Gate(ParseResult parse, string what, double p99)
    {
        if (parse.GetValue(MaxP99) is not { } bound || p99 <= bound) return 0;
        Console.Error.WriteLine($"m2s-client: {what} p99 {p99:F2} ms exceeds --max-p99-ms {bound:F2}");
        return 3;
    }

    private static async Task<int> RunSegmentBenchAsync(ParseResult parse, FileInfo video, CancellationToken cancel)
    {
        if (!video.Exists) throw new ArgumentException($"--segment: {video.FullName} does not exist");
        using var channel = Connection.Open(parse);
        var trips = await SegmentBench.RunAsync(channel, video.FullName, TimeSpan.FromSeconds(parse.GetValue(Seconds)), parse.GetValue(Warmup), 85,
            new Progress<string>(line => Console.Error.WriteLine("  " + line)), cancel);
        if (trips.Count == 0)
        {
            Console.WriteLine("no frames came back after the warm-up");
            return 1;
        }
        SegmentBench.PrintTable(trips);
        if (parse.GetValue(Out) is { } folder)
        {
            var info = await channel.Segmentation.GetInfoAsync(new GetInfoRequest(), Deadline().WithCancellationToken(cancel));
            var setup = new BenchSetup(channel.Address.ToString(), $"{info.Model?.Id} {info.Model?.Version}", info.ExecutionProvider, video.FullName,
                MaskEncoding.Rle, FrameJpeg: false, parse.GetValue(Warmup));
            foreach (var file in BenchReport.WriteSegment(trips, setup, folder.FullName)) Console.WriteLine($"wrote {file}");
        }
        return Gate(parse, "Segment round trip", Percentiles.Of(trips.Select(t => t.Total)).P99);
    }

    public static void PrintTable(StreamBenchResult result)
    {
        var frames = result.AllFrames.Count();
        if (frames == 0)
        {
            Console.WriteLine("no frames were received after the warm-up");
            return;
        }
        var table = new Table().AddColumn("latency (ms)").AddColumn(new TableColumn("p50").RightAligned()).AddColumn(new TableColumn("p95").RightAligned())
            .AddColumn(new TableColumn("p99").RightAligned()).AddColumn(new TableColumn("max").RightAligned());
        static string F(double v) => v.ToString("F2", CultureInfo.InvariantCulture);
        foreach (var (name, p) in result.Table()) table.AddRow(name, F(p.P50), F(p.P95), F(p.P99), F(p.Max));
        AnsiConsole.Write(table);
        var clock = result.Clients[0].SameMachine ? "same machine: monotonic clock" : "remote: wall clocks, as synchronised as the two machines are";
        Console.WriteLine($"{frames} frames over {result.Clients.Count} client(s) in {result.Duration.TotalSeconds:F1} s ({clock}); " +
                          $"received {result.Clients.Average(c => c.ReceivedFps):F1} fps per client; " +
                          $"missed {result.Clients.Sum(c => (double)c.Gaps)} frames, {result.Clients.Sum(c => (double)c.DroppedByDaemon)} of them dropped by the daemon for slow reading");
    }
}
