using System.Globalization;
using System.Text;

namespace M2SNet.Edge.Daemon.Observability;

/// <summary>A latency histogram with fixed buckets (seconds), lock-free to record, in Prometheus's cumulative form.</summary>
public sealed class Histogram
{
    /// <summary>0.25 ms to 1 s: covers a single stage on a GPU up to a stalled CPU frame.</summary>
    public static readonly double[] LatencyBuckets = [0.00025, 0.0005, 0.001, 0.002, 0.003, 0.005, 0.01, 0.02, 0.033, 0.05, 0.1, 0.2, 0.5, 1];

    private readonly double[] _bounds;
    private readonly long[] _counts;
    private long _count;
    private long _sumNs;

    public Histogram(double[]? bounds = null)
    {
        _bounds = bounds ?? LatencyBuckets;
        _counts = new long[_bounds.Length + 1];
    }

    public long Count => Interlocked.Read(ref _count);

    public void RecordNs(long ns)
    {
        if (ns < 0) ns = 0;
        var seconds = ns / 1e9;
        var i = 0;
        while (i < _bounds.Length && seconds > _bounds[i]) i++;
        Interlocked.Increment(ref _counts[i]);
        Interlocked.Increment(ref _count);
        Interlocked.Add(ref _sumNs, ns);
    }

    /// <summary>Appends <c>name_bucket</c>, <c>name_sum</c> and <c>name_count</c> lines with the given labels.</summary>
    public void WriteTo(StringBuilder text, string name, string labels)
    {
        var sep = labels.Length == 0 ? "" : ",";
        long cumulative = 0;
        for (var i = 0; i < _bounds.Length; i++)
        {
            cumulative += Interlocked.Read(ref _counts[i]);
            text.Append(CultureInfo.InvariantCulture, $"{name}_bucket{{{labels}{sep}le=\"{_bounds[i].ToString("R", CultureInfo.InvariantCulture)}\"}} {cumulative}\n");
        }
        cumulative += Interlocked.Read(ref _counts[^1]);
        text.Append(CultureInfo.InvariantCulture, $"{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {cumulative}\n");
        var braces = labels.Length == 0 ? "" : $"{{{labels}}}";
        text.Append(CultureInfo.InvariantCulture, $"{name}_sum{braces} {(Interlocked.Read(ref _sumNs) / 1e9).ToString("R", CultureInfo.InvariantCulture)}\n");
        text.Append(CultureInfo.InvariantCulture, $"{name}_count{braces} {cumulative}\n");
    }
}
