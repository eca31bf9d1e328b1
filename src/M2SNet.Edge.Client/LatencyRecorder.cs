using System.Diagnostics;
using M2SNet.Edge.Protocol.V1;

namespace M2SNet.Edge.Client;

/// <summary>Percentiles of one quantity, in milliseconds.</summary>
public sealed record Percentiles(int Count, double P50, double P95, double P99, double Max, double Mean)
{
    public static Percentiles Of(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        if (sorted.Length == 0) return new Percentiles(0, double.NaN, double.NaN, double.NaN, double.NaN, double.NaN);
        return new Percentiles(sorted.Length, Rank(sorted, 50), Rank(sorted, 95), Rank(sorted, 99), sorted[^1], sorted.Average());
    }

    /// <summary>Nearest-rank percentile.</summary>
    public static double Rank(double[] sorted, double p) =>
        sorted[Math.Clamp((int)Math.Ceiling(p / 100 * sorted.Length) - 1, 0, sorted.Length - 1)];
}

/// <summary>What one received message says about where its time went, in milliseconds.</summary>
public readonly record struct FrameLatency(
    ulong Sequence,
    double ReceivedAtSeconds,
    double CaptureToReceive,
    double Preprocess,
    double Inference,
    double Postprocess,
    double Encode,
    double Queued,
    double Transport,
    double WaitPreprocess,
    double WaitInference,
    double WaitPostprocess,
    double WaitSend)
{
    /// <summary>Everything but the network's own inference: the appliance's overhead.</summary>
    public double Overhead => CaptureToReceive - Inference;
}

/// <summary>
/// Collects the latency of every message one client receives. Capture→receive uses the daemon's
/// monotonic clock when the daemon is on this machine (same CLOCK_MONOTONIC), else wall clocks
/// (as good as the two machines' time synchronisation).
/// </summary>
public sealed class LatencyRecorder(bool sameMachine, int warmupFrames)
{
    private static readonly double s_nsPerTick = 1e9 / Stopwatch.Frequency;
    private readonly List<FrameLatency> _frames = [];
    private readonly long _startTicks = Stopwatch.GetTimestamp();
    private int _skipped;
    private ulong _lastSequence;

    public IReadOnlyList<FrameLatency> Frames => _frames;

    /// <summary>Frames the daemon produced that this client never saw (sequence gaps).</summary>
    public ulong Gaps { get; private set; }

    /// <summary>The daemon's count of frames it dropped for this client because it read too slowly.</summary>
    public ulong DroppedByDaemon { get; private set; }

    public bool SameMachine => sameMachine;

    public static long MonotonicNowNs => (long)(Stopwatch.GetTimestamp() * s_nsPerTick);

    public void Record(MaskMessage m)
    {
        var nowMono = MonotonicNowNs;
        var nowUnix = (DateTime.UtcNow - DateTime.UnixEpoch).Ticks * 100;
        if (_lastSequence != 0 && m.Sequence > _lastSequence + 1) Gaps += m.Sequence - _lastSequence - 1;
        _lastSequence = m.Sequence;
        DroppedByDaemon = m.DroppedFrames;
        if (_skipped < warmupFrames)
        {
            _skipped++;
            return;
        }
        var t = m.Timestamps;
        var captureToReceive = sameMachine ? nowMono - t.CaptureNs : nowUnix - t.CaptureUnixNs;
        var transport = sameMachine ? nowMono - t.SendNs : nowUnix - t.SendUnixNs;
        var s = m.Stages;
        _frames.Add(new FrameLatency(m.Sequence, Stopwatch.GetElapsedTime(_startTicks).TotalSeconds, captureToReceive / 1e6,
            s.PreprocessUs / 1e3, s.InferenceUs / 1e3, s.PostprocessUs / 1e3, s.EncodeUs / 1e3, s.QueuedUs / 1e3, transport / 1e6,
            (t.PreprocessStartNs - t.CaptureNs) / 1e6, (t.InferenceStartNs - t.PreprocessEndNs) / 1e6, (t.PostprocessStartNs - t.InferenceEndNs) / 1e6,
            (t.SendNs - t.PostprocessEndNs) / 1e6 - s.EncodeUs / 1e3));
    }

    public double ReceivedFps
    {
        get
        {
            if (_frames.Count < 2) return 0;
            var span = _frames[^1].ReceivedAtSeconds - _frames[0].ReceivedAtSeconds;
            return span > 0 ? (_frames.Count - 1) / span : 0;
        }
    }
}
