using M2SNet.Edge.Inference;
using M2SNet.Edge.Onnx.Format;
using Microsoft.ML.OnnxRuntime;

namespace M2SNet.Edge.Quantization;

/// <summary>How an activation's 8-bit range is chosen from what calibration saw.</summary>
public enum RangeMethod
{
    /// <summary>Smallest and largest value seen: nothing clips, outliers cost resolution.</summary>
    MinMax,

    /// <summary>The 99.99th percentile of the values (and the 0.01th, for tensors that go negative).</summary>
    Percentile9999,

    /// <summary>The 99.999th percentile.</summary>
    Percentile99999,
}

/// <summary>What calibration saw of one activation: its extremes and a histogram between them.</summary>
internal sealed class TensorStatistics
{
    public const int Bins = 2048;

    public double Min { get; set; } = double.PositiveInfinity;

    public double Max { get; set; } = double.NegativeInfinity;

    public long[] Histogram { get; } = new long[Bins];

    public long Count { get; private set; }

    public void Extend(ReadOnlySpan<float> values)
    {
        float min = float.PositiveInfinity, max = float.NegativeInfinity;
        foreach (var v in values)
        {
            if (v < min) min = v;
            if (v > max) max = v;
        }
        Min = Math.Min(Min, min);
        Max = Math.Max(Max, max);
    }

    public void Tally(ReadOnlySpan<float> values)
    {
        var lo = (float)Min;
        var width = (float)((Max - Min) / Bins);
        if (!(width > 0))
        {
            Histogram[0] += values.Length;
            Count += values.Length;
            return;
        }
        var inverse = 1f / width;
        foreach (var v in values)
        {
            var bin = (int)((v - lo) * inverse);
            Histogram[Math.Clamp(bin, 0, Bins - 1)]++;
        }
        Count += values.Length;
    }

    /// <summary>The range to quantize over, always holding zero (so zero is exact, as padding needs).</summary>
    public (float Low, float High) Range(RangeMethod method)
    {
        double lo = Min, hi = Max;
        if (method != RangeMethod.MinMax && Count > 0 && Max > Min)
        {
            var tail = method == RangeMethod.Percentile9999 ? 1e-4 : 1e-5;
            if (Min < 0) lo = Quantile(tail);
            hi = Quantile(1 - tail);
        }
        return ((float)Math.Min(lo, 0), (float)Math.Max(hi, 0));
    }

    /// <summary>
    /// Signal-to-quantization-noise ratio in dB of 8-bit values over <paramref name="range"/>:
    /// rounding noise (step²/12) inside it, the clipped distance outside, per histogram bin.
    /// </summary>
    public double Sqnr((float Low, float High) range)
    {
        var q = QuantParams.ForRange(range.Low, range.High);
        var width = (Max - Min) / Bins;
        double signal = 0, noise = 0;
        var rounding = q.Scale * (double)q.Scale / 12;
        for (var b = 0; b < Bins; b++)
        {
            var c = Histogram[b];
            if (c == 0) continue;
            var v = Min + (b + 0.5) * width;
            signal += c * v * v;
            var clipped = Math.Clamp(v, range.Low, range.High);
            noise += c * ((v - clipped) * (v - clipped) + rounding);
        }
        return signal <= 0 ? double.PositiveInfinity : noise <= 0 ? double.PositiveInfinity : 10 * Math.Log10(signal / noise);
    }

    private double Quantile(double p)
    {
        var target = p * Count;
        double seen = 0;
        var width = (Max - Min) / Bins;
        for (var b = 0; b < Bins; b++)
        {
            if (seen + Histogram[b] >= target)
            {
                var within = Histogram[b] == 0 ? 0 : (target - seen) / Histogram[b];
                return Min + (b + within) * width;
            }
            seen += Histogram[b];
        }
        return Max;
    }
}

/// <summary>Scale and zero point of an 8-bit (uint8, asymmetric) activation.</summary>
internal readonly record struct QuantParams(float Scale, byte ZeroPoint)
{
    public static QuantParams ForRange(float low, float high)
    {
        low = Math.Min(low, 0);
        high = Math.Max(high, 0);
        var scale = (high - low) / 255f;
        if (!(scale > 1e-12f)) return new QuantParams(1f, 0);
        var zero = (int)Math.Round(-low / scale, MidpointRounding.ToEven);
        return new QuantParams(scale, (byte)Math.Clamp(zero, 0, 255));
    }
}

/// <summary>
/// Runs the float graph on calibration inputs with the chosen activations as extra outputs, in two
/// passes: extremes first, then histograms between them.
/// </summary>
internal static class Calibrator
{
    public static Dictionary<string, TensorStatistics> Run(OnnxGraph floatGraph, string inputName, IReadOnlyCollection<string> tensors,
        IReadOnlyList<float[]> inputs, long[] shape, IProgress<string>? progress)
    {
        var stats = tensors.ToDictionary(t => t, _ => new TensorStatistics(), StringComparer.Ordinal);
        var probe = floatGraph.Clone();
        var exposed = tensors.Where(t => t != inputName && !probe.Outputs.Contains(t)).ToList();
        foreach (var t in exposed)
        {
            probe.Graph.Output.Add(new ValueInfoProto
            {
                Name = t,
                Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float } },
            });
        }
        var fetched = tensors.Where(t => t != inputName).ToArray();
        using var session = ProviderSession.Create(probe.ToBytes(), new SessionSettings { IntraOpNumThreads = Environment.ProcessorCount });
        for (var pass = 0; pass < 2; pass++)
        {
            for (var i = 0; i < inputs.Count; i++)
            {
                using var value = OrtValue.CreateTensorValueFromMemory(inputs[i], shape);
                if (stats.TryGetValue(inputName, out var own)) Update(own, inputs[i], pass);
                using var outputs = session.Run(ProviderSession.DefaultRun, [inputName], [value], fetched);
                Parallel.For(0, fetched.Length, k => Update(stats[fetched[k]], outputs[k].GetTensorDataAsSpan<float>(), pass));
                progress?.Report($"calibration pass {pass + 1} of 2: frame {i + 1}/{inputs.Count}");
            }
        }
        return stats;
    }

    private static void Update(TensorStatistics s, ReadOnlySpan<float> values, int pass)
    {
        if (pass == 0) s.Extend(values);
        else s.Tally(values);
    }
}
