using System.Text.Json.Serialization;

namespace M2SNet.Edge.Bench.Fuzz;

/// <summary>What the daemon (or the checkpoint reader) did with one generated input, as a target judges it.</summary>
/// <param name="Input">How the input was made, short: the generator and its mutation.</param>
/// <param name="Answer">The answer as a histogram key: a status code name, "GOAWAY PROTOCOL_ERROR", "closed", an exception type.</param>
/// <param name="Acceptable">Whether that answer is one the input may get (see each target's rule).</param>
/// <param name="Detail">The status message, exception message or reason it was judged unacceptable.</param>
public sealed record FuzzAnswer(string Input, string Answer, bool Acceptable, string Detail);

public sealed record FuzzOutcome(
    [property: JsonPropertyName("category")] string Category,
    [property: JsonPropertyName("index")] int Index,
    [property: JsonPropertyName("input")] string Input,
    [property: JsonPropertyName("answer")] string Answer,
    [property: JsonPropertyName("acceptable")] bool Acceptable,
    [property: JsonPropertyName("detail")] string Detail);

public sealed record FuzzCategoryFigures(
    [property: JsonPropertyName("category")] string Category,
    [property: JsonPropertyName("planned")] int Planned,
    [property: JsonPropertyName("tried")] int Tried,
    [property: JsonPropertyName("unacceptable")] int Unacceptable,
    [property: JsonPropertyName("answers")] IReadOnlyDictionary<string, int> Answers,
    [property: JsonPropertyName("seconds")] double Seconds,
    [property: JsonPropertyName("stopped_by_time_cap")] bool StoppedByTimeCap);

/// <summary>The well-behaved StreamMasks client that watched while the fuzz ran.</summary>
/// <param name="FramesPerSecond">Masks received in each second of the fuzz run.</param>
/// <param name="Failure">How the call failed, if it did (null: it was still streaming when the run ended).</param>
public sealed record FuzzViewerFigures(
    [property: JsonPropertyName("frames")] long Frames,
    [property: JsonPropertyName("frames_per_second")] IReadOnlyList<int> FramesPerSecond,
    [property: JsonPropertyName("longest_gap_s")] double LongestGapSeconds,
    [property: JsonPropertyName("failure")] string? Failure);

public sealed record FuzzReport(
    [property: JsonPropertyName("machine")] MachineInfo Machine,
    [property: JsonPropertyName("seed")] int Seed,
    [property: JsonPropertyName("count")] int Count,
    [property: JsonPropertyName("quick")] bool Quick,
    [property: JsonPropertyName("categories")] IReadOnlyList<FuzzCategoryFigures> Categories,
    [property: JsonPropertyName("failures")] IReadOnlyList<FuzzOutcome> Failures,
    [property: JsonPropertyName("rss_before_mib")] double RssBeforeMiB,
    [property: JsonPropertyName("rss_after_mib")] double RssAfterMiB,
    [property: JsonPropertyName("rss_peak_mib")] double RssPeakMiB,
    [property: JsonPropertyName("viewer")] FuzzViewerFigures Viewer,
    [property: JsonPropertyName("model_before")] string ModelBefore,
    [property: JsonPropertyName("model_after")] string ModelAfter,
    [property: JsonPropertyName("health_after")] string HealthAfter,
    [property: JsonPropertyName("wall_s")] double WallSeconds)
{
    [JsonPropertyName("inputs")]
    public int Inputs => Categories.Sum(c => c.Tried);

    [JsonPropertyName("unacceptable")]
    public int Unacceptable => Categories.Sum(c => c.Unacceptable);

    [JsonPropertyName("rss_growth_mib")]
    public double RssGrowthMiB => RssAfterMiB - RssBeforeMiB;

    /// <summary>Every input got an acceptable answer, the viewer never failed, the model and health are as they were.</summary>
    [JsonPropertyName("passed")]
    public bool Passed => Unacceptable == 0 && Viewer.Failure is null && ModelAfter == ModelBefore && HealthAfter == "SERVING";
}
