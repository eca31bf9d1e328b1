using M2SNet.Edge.Daemon.Pipeline;
using M2SNet.Edge.Video;

namespace M2SNet.Edge.Daemon.Observability;

/// <summary>Per-stage latency histograms and the frame rate at the end of the pipeline.</summary>
public sealed class PipelineMetrics
{
    private readonly long[] _recent = new long[64];
    private long _frames;
    private volatile string? _failure;

    public Histogram Preprocess { get; } = new();

    public Histogram Inference { get; } = new();

    public Histogram Postprocess { get; } = new();

    /// <summary>Capture to the result being handed to clients.</summary>
    public Histogram CaptureToPublish { get; } = new();

    /// <summary>Waiting in hand-offs (capture to publish, less the stages).</summary>
    public Histogram Queued { get; } = new();

    /// <summary>Encoding a message for one client.</summary>
    public Histogram Encode { get; } = new();

    /// <summary>Capture to the message being written to one client's stream.</summary>
    public Histogram CaptureToSend { get; } = new();

    public long FramesSegmented => Interlocked.Read(ref _frames);

    /// <summary>The stage that stopped the pipeline, if one did.</summary>
    public string? Failure => _failure;

    public void RecordFrame(in StageTimes t)
    {
        var pre = t.PreprocessEndNs - t.PreprocessStartNs;
        var inf = t.InferenceEndNs - t.InferenceStartNs;
        var post = t.PostprocessEndNs - t.PostprocessStartNs;
        Preprocess.RecordNs(pre);
        Inference.RecordNs(inf);
        Postprocess.RecordNs(post);
        var total = t.PostprocessEndNs - t.CaptureNs;
        CaptureToPublish.RecordNs(total);
        Queued.RecordNs(total - pre - inf - post);
        var n = Interlocked.Increment(ref _frames);
        Volatile.Write(ref _recent[n % _recent.Length], t.PostprocessEndNs);
    }

    public void RecordSend(long encodeNs, long captureToSendNs)
    {
        Encode.RecordNs(encodeNs);
        CaptureToSend.RecordNs(captureToSendNs);
    }

    public void StageFailed(string stage, string reason) => _failure = $"{stage}: {reason}";

    /// <summary>Frames per second over the last (up to) 64 frames within the last 5 s; 0 when none.</summary>
    public double Fps
    {
        get
        {
            var n = FramesSegmented;
            if (n < 2) return 0;
            var now = MonotonicClock.NowNs;
            var newest = Volatile.Read(ref _recent[n % _recent.Length]);
            if (now - newest > 5_000_000_000L) return 0;
            var span = Math.Min(n - 1, _recent.Length - 1);
            var oldest = Volatile.Read(ref _recent[(n - span) % _recent.Length]);
            return newest > oldest ? span * 1e9 / (newest - oldest) : 0;
        }
    }
}
