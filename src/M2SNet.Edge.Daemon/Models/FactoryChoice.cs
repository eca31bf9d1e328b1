using System.Globalization;

namespace M2SNet.Edge.Daemon.Models;

/// <summary>One alternative of the factory model: its median run time, or why it cannot run.</summary>
public sealed record FactoryTrial(string Path, string Precision, double? MedianMs, string? Failure);

/// <summary>Which alternative of the factory model runs: the fastest that passed; the first listed on a tie.</summary>
public static class FactoryChoice
{
    /// <summary>Index of the fastest trial that passed, or -1 when none did.</summary>
    public static int Fastest(IReadOnlyList<FactoryTrial> trials)
    {
        var best = -1;
        for (var i = 0; i < trials.Count; i++)
        {
            if (trials[i].MedianMs is not { } ms) continue;
            if (best < 0 || ms < trials[best].MedianMs!.Value) best = i;
        }
        return best;
    }

    /// <summary>"m2snet-s-demo.onnx (float32) 7.3 ms, m2snet-s-demo-int8.onnx (int8) 8.1 ms" for the log.</summary>
    public static string Describe(IReadOnlyList<FactoryTrial> trials) => string.Join(", ", trials.Select(t => t.MedianMs is { } ms
        ? string.Create(CultureInfo.InvariantCulture, $"{System.IO.Path.GetFileName(t.Path)} ({t.Precision}) {ms:F1} ms")
        : $"{System.IO.Path.GetFileName(t.Path)} failed: {t.Failure}"));
}
