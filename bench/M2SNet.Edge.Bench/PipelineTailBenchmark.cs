using System.Text.Json.Serialization;
using M2SNet.Edge.Protocol.V1;

namespace M2SNet.Edge.Bench;

/// <summary>
/// The pipeline's overhead (all but inference) at 1080p30 with one client, before and after issue
/// 18's changes, in one run: the daemon as it was (preprocessing on its own thread, decoding at the
/// stages' priority, the scheduler's default slices) and as it is, alternated round by round so
/// drift lands on both alike. (The field-of-view probe moved off the frame's time applies to both.)
/// </summary>
public static class PipelineTailBenchmark
{
    public sealed record Layout(
        [property: JsonPropertyName("name")] string Name,
        [property: JsonPropertyName("settings")] IReadOnlyDictionary<string, string?> Settings,
        [property: JsonPropertyName("runs")] IReadOnlyList<DaemonRun> Runs,
        [property: JsonPropertyName("overhead")] StageFigures Overhead,
        [property: JsonPropertyName("queued_in_hand_offs")] StageFigures Queued,
        [property: JsonPropertyName("capture_to_received")] StageFigures CaptureToReceived);

    public sealed record Report(
        [property: JsonPropertyName("benchmark")] string Benchmark,
        [property: JsonPropertyName("machine")] MachineInfo Machine,
        [property: JsonPropertyName("model")] string Model,
        [property: JsonPropertyName("rounds")] int Rounds,
        [property: JsonPropertyName("seconds_per_run")] double Seconds,
        [property: JsonPropertyName("before")] Layout Before,
        [property: JsonPropertyName("after")] Layout After,
        [property: JsonPropertyName("p99_after_to_before")] double P99Ratio);

    public static readonly IReadOnlyDictionary<string, string?> BeforeSettings = new Dictionary<string, string?>
    {
        ["Daemon:Pipeline:PreprocessOnInferenceThread"] = "false",
        ["Daemon:Pipeline:DecodeNice"] = "0",
        ["Daemon:Pipeline:StageSliceMicroseconds"] = "0",
        ["Daemon:Pipeline:LockFreeWake"] = "false",
    };

    public static async Task<Report> RunAsync(bool quick, IProgress<string> progress, IReadOnlyDictionary<string, string?>? common = null)
    {
        var rounds = quick ? 1 : 3;
        var before = new List<DaemonRun>();
        var after = new List<DaemonRun>();
        var model = "";
        var seconds = 0.0;
        for (var round = 0; round < rounds; round++)
        {
            foreach (var (runs, settings, label) in new[] { (before, BeforeSettings, "before"), (after, new Dictionary<string, string?>(), "after") })
            {
                // One model for both: which of the demo's twins runs is chosen by speed, and this compares layouts.
                var all = new Dictionary<string, string?> { ["Daemon:Model:Path"] = "models/m2snet-s-demo.onnx" };
                foreach (var (k, v) in common ?? new Dictionary<string, string?>()) all[k] = v;
                foreach (var (k, v) in settings) all[k] = v;
                var report = await DaemonLatencyBenchmark.RunAsync(quick, 0, MaskEncoding.Rle,
                    new Progress<string>(p => progress.Report($"round {round + 1}/{rounds}, {label}: {p}")), all, oneClientOnly: true).ConfigureAwait(false);
                runs.Add(report.Runs[0]);
                model = report.Model;
                seconds = report.Seconds;
            }
        }
        var b = Summarise("before", BeforeSettings, before);
        var a = Summarise("after", new Dictionary<string, string?>(), after);
        return new Report("pipeline-tail", MachineInfo.Current(), model, rounds, seconds, b, a, a.Overhead.P99 / b.Overhead.P99);
    }

    /// <summary>Percentiles over all rounds' frames: each round's figures weighted by its frames.</summary>
    private static Layout Summarise(string name, IReadOnlyDictionary<string, string?> settings, List<DaemonRun> runs)
    {
        StageFigures Pool(string stage) => new(
            runs.Sum(r => r.Stages[stage].P50 * r.Frames) / runs.Sum(r => r.Frames),
            runs.Sum(r => r.Stages[stage].P95 * r.Frames) / runs.Sum(r => r.Frames),
            runs.Sum(r => r.Stages[stage].P99 * r.Frames) / runs.Sum(r => r.Frames),
            runs.Max(r => r.Stages[stage].Max));
        return new Layout(name, settings, runs, Pool("overhead (all but inference)"), Pool("queued in hand-offs"), Pool("capture → received"));
    }
}
