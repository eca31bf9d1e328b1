using System.Diagnostics;

namespace M2SNet.Edge.Bench;

/// <summary>One thing to time: an action run once per sample.</summary>
public sealed record Variant(string Name, Action Run);

/// <summary>
/// Times variants interleaved round-robin (A B C A B C ...), so drift in the machine's speed
/// (thermal, other load) lands on every variant alike and their ratios stay fair.
/// </summary>
public static class Harness
{
    public static IReadOnlyDictionary<string, LatencyStats> MeasureInterleaved(
        IReadOnlyList<Variant> variants, int warmup, int iterations, Action<string>? progress = null)
    {
        foreach (var v in variants)
        {
            for (var i = 0; i < warmup; i++) v.Run();
        }
        var samples = variants.ToDictionary(v => v.Name, _ => new List<double>(iterations));
        var sw = new Stopwatch();
        var reportEvery = Math.Max(1, iterations / 10);
        for (var i = 0; i < iterations; i++)
        {
            foreach (var v in variants)
            {
                sw.Restart();
                v.Run();
                samples[v.Name].Add(sw.Elapsed.TotalMilliseconds);
            }
            if (progress is not null && ((i + 1) % reportEvery == 0 || i + 1 == iterations))
            {
                progress($"{i + 1}/{iterations} rounds");
            }
        }
        return samples.ToDictionary(p => p.Key, p => LatencyStats.From(p.Value));
    }
}
