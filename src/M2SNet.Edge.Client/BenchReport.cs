using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using M2SNet.Edge.Charts;
using M2SNet.Edge.OpenCv;
using M2SNet.Edge.Protocol.V1;

namespace M2SNet.Edge.Client;

/// <summary>What a benchmark ran against and how, for the report.</summary>
public sealed record BenchSetup(string Address, string Model, string Provider, string Source, MaskEncoding Encoding, bool FrameJpeg, int WarmupFrames);

/// <summary>
/// A benchmark's results for a go-live record: <c>bench.json</c> (set-up, percentiles of every
/// row of the latency table, per-client rates and losses), <c>frames.csv</c> (one row per received
/// frame) and <c>latency.png</c> (capture→received over time, and its distribution as a CDF).
/// </summary>
public static class BenchReport
{
    private static readonly JsonSerializerOptions s_json = new()
    {
        WriteIndented = true,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new JsonStringEnumConverter() },
    };

    /// <summary>"capture → received" → "capture_to_received", "transport (send → received)" → "transport_send_to_received".</summary>
    public static string KeyOf(string row) =>
        string.Join('_', row.Trim().Replace("→", "to", StringComparison.Ordinal).Replace("(", "", StringComparison.Ordinal).Replace(")", "", StringComparison.Ordinal)
            .Split(' ', StringSplitOptions.RemoveEmptyEntries)).ToLowerInvariant();

    public sealed record Report(
        DateTimeOffset FinishedUtc, double DurationSeconds, int Clients, BenchSetup Setup, bool SameMachineClock,
        IReadOnlyDictionary<string, Percentiles> LatencyMs, IReadOnlyList<ClientSummary> PerClient);

    public sealed record ClientSummary(int Client, int Frames, double ReceivedFps, ulong Gaps, ulong DroppedByDaemon);

    public static Report Summarise(StreamBenchResult result, BenchSetup setup) => new(
        DateTimeOffset.UtcNow, result.Duration.TotalSeconds, result.Clients.Count, setup, result.Clients[0].SameMachine,
        result.Table().ToDictionary(r => KeyOf(r.Name), r => r.Values),
        [.. result.Clients.Select((c, i) => new ClientSummary(i + 1, c.Frames.Count, c.ReceivedFps, c.Gaps, c.DroppedByDaemon))]);

    /// <summary>Writes the three files into <paramref name="directory"/>; returns their paths.</summary>
    public static IReadOnlyList<string> Write(StreamBenchResult result, BenchSetup setup, string directory)
    {
        Directory.CreateDirectory(directory);
        var json = Path.Combine(directory, "bench.json");
        File.WriteAllText(json, JsonSerializer.Serialize(Summarise(result, setup), s_json));

        var csv = Path.Combine(directory, "frames.csv");
        var text = new StringBuilder("client,sequence,received_at_s,capture_to_received_ms,preprocess_ms,inference_ms,postprocess_ms,encode_ms,queued_ms,transport_ms,overhead_ms\n");
        for (var c = 0; c < result.Clients.Count; c++)
        {
            foreach (var f in result.Clients[c].Frames)
            {
                text.Append(CultureInfo.InvariantCulture,
                    $"{c + 1},{f.Sequence},{f.ReceivedAtSeconds:F4},{f.CaptureToReceive:F3},{f.Preprocess:F3},{f.Inference:F3},{f.Postprocess:F3},{f.Encode:F3},{f.Queued:F3},{f.Transport:F3},{f.Overhead:F3}\n");
            }
        }
        File.WriteAllText(csv, text.ToString());

        var png = Path.Combine(directory, "latency.png");
        Scalar[] colours = [LineChart.Blue, LineChart.Orange, LineChart.Green, LineChart.Purple, LineChart.Red, LineChart.Gray];
        var overTime = result.Clients.Select((c, i) => new Series($"client {i + 1}", [.. c.Frames.Select(f => (f.ReceivedAtSeconds, f.CaptureToReceive))],
            colours[i % colours.Length], Dots: true)).Take(6).ToList();
        var all = result.AllFrames.Select(f => f.CaptureToReceive).Order().ToArray();
        var cdf = new List<Series>
        {
            new("capture->received", [.. all.Select((v, i) => (v, (i + 1.0) / all.Length))], LineChart.Blue),
            new("inference", [.. Cdf(result.AllFrames.Select(f => f.Inference))], LineChart.Orange),
            new("overhead", [.. Cdf(result.AllFrames.Select(f => f.Overhead))], LineChart.Green),
        };
        var p = result.Of(f => f.CaptureToReceive);
        LineChart.Save(png,
        [
            new Panel(string.Create(CultureInfo.InvariantCulture, $"capture->received, p50 {p.P50:F1} p99 {p.P99:F1} ms"), "time (s)", "ms", overTime, YMin: 0),
            new Panel("distribution (CDF)", "ms", "fraction of frames", cdf, YMin: 0, YMax: 1),
        ]);
        return [json, csv, png];
    }

    public sealed record SegmentReport(DateTimeOffset FinishedUtc, string Mode, BenchSetup Setup, int Frames, IReadOnlyDictionary<string, Percentiles> LatencyMs);

    /// <summary>The same three files for <c>bench --segment</c>: round trips on the client's clock.</summary>
    public static IReadOnlyList<string> WriteSegment(IReadOnlyList<RoundTrip> trips, BenchSetup setup, string directory)
    {
        Directory.CreateDirectory(directory);
        var json = Path.Combine(directory, "bench.json");
        File.WriteAllText(json, JsonSerializer.Serialize(new SegmentReport(DateTimeOffset.UtcNow, "segment", setup, trips.Count,
            SegmentBench.Rows.ToDictionary(r => r.Key, r => Percentiles.Of(trips.Select(r.Value)))), s_json));

        var csv = Path.Combine(directory, "frames.csv");
        var text = new StringBuilder("sequence,sent_at_s,round_trip_ms,in_daemon_ms,inference_ms,transport_and_waiting_ms\n");
        foreach (var t in trips) text.Append(CultureInfo.InvariantCulture, $"{t.Sequence},{t.SentAtSeconds:F4},{t.Total:F3},{t.InDaemon:F3},{t.Inference:F3},{t.Transport:F3}\n");
        File.WriteAllText(csv, text.ToString());

        var png = Path.Combine(directory, "latency.png");
        var p = Percentiles.Of(trips.Select(t => t.Total));
        LineChart.Save(png,
        [
            new Panel(string.Create(CultureInfo.InvariantCulture, $"Segment round trip, p50 {p.P50:F1} p99 {p.P99:F1} ms"), "time (s)", "ms",
            [
                new Series("round trip", [.. trips.Select(t => (t.SentAtSeconds, t.Total))], LineChart.Blue, Dots: true),
                new Series("in the daemon", [.. trips.Select(t => (t.SentAtSeconds, t.InDaemon))], LineChart.Orange, Dots: true),
            ], YMin: 0),
            new Panel("distribution (CDF)", "ms", "fraction of frames",
            [
                new Series("round trip", [.. Cdf(trips.Select(t => t.Total))], LineChart.Blue),
                new Series("in the daemon", [.. Cdf(trips.Select(t => t.InDaemon))], LineChart.Orange),
                new Series("inference", [.. Cdf(trips.Select(t => t.Inference))], LineChart.Green),
            ], YMin: 0, YMax: 1),
        ]);
        return [json, csv, png];
    }

    private static IEnumerable<(double, double)> Cdf(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Select((v, i) => (v, (i + 1.0) / sorted.Length));
    }
}
