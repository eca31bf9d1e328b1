using System.Text.Json.Serialization;

namespace M2SNet.Edge.Bench;

/// <summary>Summary of one variant's timings, in milliseconds.</summary>
public sealed record LatencyStats(
    [property: JsonPropertyName("count")] int Count,
    [property: JsonPropertyName("median_ms")] double Median,
    [property: JsonPropertyName("p95_ms")] double P95,
    [property: JsonPropertyName("p99_ms")] double P99,
    [property: JsonPropertyName("min_ms")] double Min,
    [property: JsonPropertyName("max_ms")] double Max,
    [property: JsonPropertyName("mean_ms")] double Mean)
{
    public static LatencyStats From(IReadOnlyCollection<double> millis)
    {
        if (millis.Count == 0) throw new ArgumentException("no samples", nameof(millis));
        var sorted = millis.Order().ToArray();
        return new LatencyStats(sorted.Length, Percentile(sorted, 50), Percentile(sorted, 95), Percentile(sorted, 99),
            sorted[0], sorted[^1], sorted.Average());
    }

    /// <summary>Nearest-rank percentile of sorted samples (the definition m2s-client reports with).</summary>
    public static double Percentile(double[] sorted, double p) => M2SNet.Edge.Client.Percentiles.Rank(sorted, p);
}
