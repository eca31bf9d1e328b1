using System.Collections.Concurrent;
using System.Diagnostics;
using M2SNet.Edge.OpenCv;

namespace M2SNet.Edge.Video;

/// <summary>Monotonic time in nanoseconds (Stopwatch), the clock every pipeline timestamp uses.</summary>
public static class MonotonicClock
{
    private static readonly double s_nsPerTick = 1e9 / Stopwatch.Frequency;

    public static long NowNs => (long)(Stopwatch.GetTimestamp() * s_nsPerTick);
}

/// <summary>
/// One captured frame (BGR, 8 bit) with its sequence number, the monotonic time it was captured
/// (ns), the source's own timestamp (ms) and the region of the image that is the endoscope's field
/// of view. Frames come from a <see cref="FramePool"/>; disposing one returns its buffer.
/// </summary>
public sealed class Frame : IDisposable
{
    private readonly FramePool? _pool;
    private int _returned;

    internal Frame(FramePool? pool)
    {
        _pool = pool;
    }

    public Mat Image { get; } = new();

    public long Sequence { get; internal set; }

    public long CaptureTimestampNs { get; internal set; }

    public double SourceTimestampMs { get; internal set; }

    public Rect RegionOfInterest { get; internal set; }

    public int Width => Image.Cols;

    public int Height => Image.Rows;

    /// <summary>A frame outside any pool (a client's uploaded frame, a test image): disposing frees it.</summary>
    public static Frame Standalone(Mat image, long sequence, long captureTimestampNs)
    {
        var f = new Frame(null) { Sequence = sequence, CaptureTimestampNs = captureTimestampNs };
        image.CopyTo(f.Image);
        f.RegionOfInterest = Rect.Of(f.Image);
        return f;
    }

    internal void Reset() => Interlocked.Exchange(ref _returned, 0);

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _returned, 1) == 1) return;
        if (_pool is null) Image.Dispose();
        else _pool.Return(this);
    }
}

/// <summary>
/// Frame buffers reused across the stream: after warm-up no frame allocates. Renting from an empty
/// pool allocates (counted), so a consumer holding frames never stalls the capture.
/// </summary>
public sealed class FramePool : IDisposable
{
    private readonly ConcurrentBag<Frame> _free = [];
    private long _allocated;
    private bool _disposed;

    /// <summary>Frame buffers created so far (steady state: a handful).</summary>
    public long Allocated => Interlocked.Read(ref _allocated);

    public Frame Rent()
    {
        if (!_free.TryTake(out var frame))
        {
            Interlocked.Increment(ref _allocated);
            frame = new Frame(this);
        }
        frame.Reset();
        return frame;
    }

    internal void Return(Frame frame)
    {
        if (_disposed) frame.Image.Dispose();
        else _free.Add(frame);
    }

    public void Dispose()
    {
        _disposed = true;
        while (_free.TryTake(out var f)) f.Image.Dispose();
    }
}
