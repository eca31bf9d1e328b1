using System.Globalization;

namespace M2SNet.Edge.Bench.Fuzz;

/// <summary>The fuzz report as <c>m2s-bench fuzz</c> prints it: per category, the answers it got; then failures, RSS, the viewer.</summary>
public static class FuzzTable
{
    public static void Print(FuzzReport report, TextWriter o)
    {
        o.WriteLine($"m2s-edged fuzz, seed {report.Seed}, {report.Inputs} of {report.Count} inputs{(report.Quick ? " (quick)" : "")}, " +
                    $"{report.Machine.Cpu} ({report.Machine.LogicalCores} logical cores), {report.WallSeconds.ToString("F0", CultureInfo.InvariantCulture)} s");
        o.WriteLine($"{"category",-12} {"tried",7} {"bad",5} {"s",6}  answers");
        foreach (var c in report.Categories)
        {
            var answers = string.Join(", ", c.Answers.OrderByDescending(a => a.Value).Select(a => $"{a.Key} {a.Value}"));
            o.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{c.Category,-12} {c.Tried,7} {c.Unacceptable,5} {c.Seconds,6:F1}  {answers}{(c.StoppedByTimeCap ? $"  [stopped by the time cap at {c.Tried}/{c.Planned}]" : "")}"));
        }
        o.WriteLine($"{"all",-12} {report.Inputs,7} {report.Unacceptable,5}");
        if (report.Failures.Count > 0)
        {
            o.WriteLine($"unacceptable answers ({report.Unacceptable}; input = category#index with seed {report.Seed}):");
            foreach (var f in report.Failures) o.WriteLine($"  {f.Category}#{f.Index} {f.Input}: {f.Answer}: {Short(f.Detail)}");
        }
        o.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"RSS of the daemon's process: {report.RssBeforeMiB:F0} MiB before, {report.RssAfterMiB:F0} MiB after ({report.RssGrowthMiB:+0;-0} MiB), peak {report.RssPeakMiB:F0} MiB"));
        var v = report.Viewer;
        var seconds = v.FramesPerSecond.Count;
        o.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"viewer (StreamMasks beside the fuzz): {v.Frames} masks in {seconds} s, {(seconds == 0 ? 0 : v.FramesPerSecond.Min())}..{(seconds == 0 ? 0 : v.FramesPerSecond.Max())} per second, " +
            $"longest gap {v.LongestGapSeconds:F2} s{(v.Failure is null ? "" : $", FAILED: {v.Failure}")}"));
        o.WriteLine($"model before {report.ModelBefore}, after {report.ModelAfter}; health after: {report.HealthAfter}");
        o.WriteLine(report.Passed ? "PASSED" : "FAILED");
    }

    private static string Short(string text) => text.Length <= 300 ? text : text[..300] + "…";
}
