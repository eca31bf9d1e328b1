using M2SNet.Edge.OpenCv;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace M2SNet.Edge.Video;

/// <summary>How the field of view is found in each frame.</summary>
public enum RegionOfInterestMode
{
    /// <summary>The whole frame.</summary>
    None,

    /// <summary>The bounding box of the lit area, found again every second: crops the endoscope's black border.</summary>
    Auto,

    /// <summary>A fixed rectangle (<see cref="VideoSourceOptions.FixedRegion"/>).</summary>
    Fixed,
}

/// <summary>How a source is opened and kept going.</summary>
public sealed record VideoSourceOptions
{
    public required VideoSourceSpec Source { get; init; }

    /// <summary>Files: deliver frames at the file's frame rate (as a live source would) instead of as fast as they decode.</summary>
    public bool Realtime { get; init; } = true;

    /// <summary>Files: start again at the end (a demo loop) instead of ending.</summary>
    public bool Loop { get; init; }

    /// <summary>Devices: the pixel format to ask for (MJPG, YUYV), set before the size.</summary>
    public string? DeviceFourCC { get; init; }

    public int? Width { get; init; }

    public int? Height { get; init; }

    public double? Fps { get; init; }

    public TimeSpan OpenTimeout { get; init; } = TimeSpan.FromSeconds(10);

    public TimeSpan ReadTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Live sources: first and longest wait before reopening after a loss (doubling in between).</summary>
    public TimeSpan ReconnectMinimum { get; init; } = TimeSpan.FromMilliseconds(500);

    public TimeSpan ReconnectMaximum { get; init; } = TimeSpan.FromSeconds(10);

    public RegionOfInterestMode RegionOfInterest { get; init; } = RegionOfInterestMode.None;

    public Rect? FixedRegion { get; init; }

    /// <summary>
    /// How much nicer than the process the capture thread and the decoder threads it opens run
    /// (Linux): decoding the next frame then yields the cores to the frame already decoded, whose
    /// stages would otherwise wait for a core at every hand-off. 0 leaves them equal.
    /// </summary>
    public int DecodeNice { get; init; }

    /// <summary>Whether the frame slot wakes its reader without a lock (<see cref="LatestSlot{T}"/>); false only to measure the old way.</summary>
    public bool LockFreeWake { get; init; } = true;
}

/// <summary>What happened to a source.</summary>
public enum SourceEventKind
{
    Opened,
    SourceLost,
    Reconnecting,
    FrameSizeChanged,
    Ended,
}

/// <summary>A change in a source's state, with the reason in words.</summary>
public sealed record SourceEvent(SourceEventKind Kind, string Message, DateTimeOffset At);

/// <summary>
/// Reads a source on its own thread into pooled, timestamped frames and hands the newest to
/// <see cref="Frames"/> (drop-to-latest: a slow reader never builds a queue). Files are paced at
/// their frame rate when real-time, and end or loop; live sources that fail are reported
/// (<see cref="SourceEventKind.SourceLost"/>) and reopened with a growing back-off, without
/// restarting the process.
/// </summary>
public sealed class VideoSource : IDisposable
{
    private readonly VideoSourceOptions _options;
    private readonly ILogger _log;
    private readonly FramePool _pool = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly List<SourceEvent> _events = [];
    private Thread? _thread;
    private long _read;
    private long _sequence;
    private int _reconnects;
    private int _loops;

    public VideoSource(VideoSourceOptions options, ILogger? log = null)
    {
        _options = options;
        _log = log ?? NullLogger.Instance;
        Frames = new(options.LockFreeWake);
    }

    /// <summary>The newest frame; take it, use it, dispose it.</summary>
    public LatestSlot<Frame> Frames { get; }

    public VideoSourceSpec Spec => _options.Source;

    /// <summary>Properties of the open stream (zeros before the first open).</summary>
    public VideoProperties Properties { get; private set; } = new("", 0, 0, 0, "", 0);

    public long FramesRead => Interlocked.Read(ref _read);

    public long FramesDropped => Frames.Dropped;

    public int Reconnects => Volatile.Read(ref _reconnects);

    /// <summary>Times a looping file started again at its beginning.</summary>
    public int Loops => Volatile.Read(ref _loops);

    public long FramesAllocated => _pool.Allocated;

    /// <summary>Raised on the capture thread for every state change.</summary>
    public event Action<SourceEvent>? StateChanged;

    public IReadOnlyList<SourceEvent> Events
    {
        get
        {
            lock (_events) return [.. _events];
        }
    }

    /// <summary>Opens the source (synchronously, so a bad source fails here with its reason) and starts reading.</summary>
    public void Start()
    {
        if (_thread is not null) throw new InvalidOperationException("the source is already started");
        // Opened on the capture thread itself, so the decoder's threads inherit its nice value;
        // Start still waits for the outcome, so a bad source fails here with its reason.
        System.Runtime.ExceptionServices.ExceptionDispatchInfo? failure = null;
        using var opened = new ManualResetEventSlim();
        var thread = new Thread(() =>
        {
            ThreadNice.Lower(_options.DecodeNice);
            VideoCapture capture;
            try
            {
                capture = Open();
            }
            catch (Exception e)
            {
                failure = System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e);
                return;
            }
            finally
            {
                opened.Set();
            }
            Run(capture);
        })
        { IsBackground = true, Name = "video-capture" };
        thread.Start();
        opened.Wait();
        failure?.Throw();
        _thread = thread;
    }

    public void Dispose()
    {
        _stop.Cancel();
        _thread?.Join(TimeSpan.FromSeconds(5));
        Frames.Dispose();
        _pool.Dispose();
        _stop.Dispose();
    }

    /// <summary>Opens with the explicit back-end and timeouts; a source that opens with a 0x0 size is a failure.</summary>
    private VideoCapture Open()
    {
        var capture = OpenCapture(_options, out var properties);
        Properties = properties;
        Raise(SourceEventKind.Opened, $"{_options.Source}: {Properties}");
        return capture;
    }

    /// <summary>Opens a source as <see cref="VideoSource"/> does (for probes and tools).</summary>
    public static VideoCapture OpenCapture(VideoSourceOptions options, out VideoProperties properties)
    {
        var spec = options.Source;
        var parameters = new List<int>();
        if (spec.Backend == VideoCaptureAPIs.FFmpeg)
        {
            parameters.AddRange([(int)VideoCaptureProperties.OpenTimeoutMsec, (int)options.OpenTimeout.TotalMilliseconds]);
            parameters.AddRange([(int)VideoCaptureProperties.ReadTimeoutMsec, (int)options.ReadTimeout.TotalMilliseconds]);
        }
        if (spec.Kind == VideoSourceKind.Device && !File.Exists(spec.Location))
        {
            throw new VideoSourceException($"no capture device at {spec.Location} (is the endoscope's capture card plugged in?)");
        }
        if (spec.Kind == VideoSourceKind.File && spec.Backend != VideoCaptureAPIs.Images && !File.Exists(spec.Location))
        {
            throw new VideoSourceException($"video file not found: {spec.Location}");
        }
        VideoCapture capture;
        try
        {
            capture = spec.Kind == VideoSourceKind.Device && spec.DeviceIndex >= 0
                ? new VideoCapture(spec.DeviceIndex, spec.Backend, [.. parameters])
                : new VideoCapture(spec.Location, spec.Backend, [.. parameters]);
        }
        catch (OpenCvException e)
        {
            var hint = spec.Kind == VideoSourceKind.GStreamer ? " (are GStreamer's plugins installed? Debian: gstreamer1.0-plugins-base/-good)" : "";
            throw new VideoSourceException(e.Message + hint, e);
        }
        if (spec.Kind == VideoSourceKind.Device) ConfigureDevice(capture, options);
        if (capture.FrameWidth <= 0 || capture.FrameHeight <= 0)
        {
            capture.Dispose();
            throw new VideoSourceException($"{spec.Location} opened but reports a 0x0 frame size (not a video, or no stream in it)");
        }
        properties = new VideoProperties(capture.BackendName, capture.FrameWidth, capture.FrameHeight,
            capture.Fps is > 0 and < 1000 ? capture.Fps : 0, capture.FourCCText, Math.Max(0, capture.FrameCount));
        return capture;
    }

    private static void ConfigureDevice(VideoCapture capture, VideoSourceOptions options)
    {
        // The pixel format goes first: some drivers only offer a size in a given format.
        if (options.DeviceFourCC is { } fourcc) capture.Set(VideoCaptureProperties.FourCC, FourCC.FromString(fourcc));
        if (options.Width is { } w) capture.Set(VideoCaptureProperties.FrameWidth, w);
        if (options.Height is { } h) capture.Set(VideoCaptureProperties.FrameHeight, h);
        if (options.Fps is { } f) capture.Set(VideoCaptureProperties.Fps, f);
        capture.Set(VideoCaptureProperties.BufferSize, 1); // the newest frame, not the driver's queue
    }

    private void Run(VideoCapture capture)
    {
        var stop = _stop.Token;
        var backoff = _options.ReconnectMinimum;
        try
        {
            while (!stop.IsCancellationRequested)
            {
                var reason = ReadUntilFailure(capture, stop);
                capture.Dispose();
                if (stop.IsCancellationRequested) break;
                if (!_options.Source.IsLive)
                {
                    if (reason is null && _options.Loop)
                    {
                        // Starting the file again is not news: no event, a count.
                        capture = OpenCapture(_options, out _);
                        Interlocked.Increment(ref _loops);
                        continue;
                    }
                    Raise(reason is null ? SourceEventKind.Ended : SourceEventKind.SourceLost, reason ?? "end of file");
                    break;
                }
                Raise(SourceEventKind.SourceLost, reason ?? "the stream ended");
                capture = Reconnect(ref backoff, stop)!;
                if (capture is null) break;
            }
        }
        finally
        {
            Frames.Complete();
        }
    }

    private VideoCapture? Reconnect(ref TimeSpan backoff, CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            Raise(SourceEventKind.Reconnecting, $"reopening {_options.Source.Location} in {backoff.TotalSeconds:0.#} s");
            if (stop.WaitHandle.WaitOne(backoff)) return null;
            backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, _options.ReconnectMaximum.Ticks));
            try
            {
                var capture = Open();
                Interlocked.Increment(ref _reconnects);
                backoff = _options.ReconnectMinimum;
                return capture;
            }
            catch (VideoSourceException e)
            {
                Raise(SourceEventKind.SourceLost, e.Message);
            }
        }
        return null;
    }

    /// <summary>Reads frames until the stream fails; null at a clean end of file.</summary>
    private string? ReadUntilFailure(VideoCapture capture, CancellationToken stop)
    {
        var fps = Properties.Fps > 0 ? Properties.Fps : 30;
        var expectedFrames = Properties.FrameCount;
        var paced = !_options.Source.IsLive && _options.Realtime;
        var start = MonotonicClock.NowNs;
        var expectedSize = (W: 0, H: 0);
        Rect roi = default;
        double lastSourceMs = double.NegativeInfinity;
        var framesInFile = 0;
        using var roiProbe = new Mat();
        while (!stop.IsCancellationRequested)
        {
            if (paced)
            {
                // A file played as a camera: the frame is read when it is due, as a camera delivers it,
                // so decoding happens between frames and not while the pipeline works on the last one.
                var due = start + (long)(framesInFile * 1e9 / fps);
                var wait = due - MonotonicClock.NowNs;
                if (wait > 0 && stop.WaitHandle.WaitOne(TimeSpan.FromTicks(wait / 100))) return null;
            }
            var frame = _pool.Rent();
            if (!capture.Read(frame.Image))
            {
                frame.Dispose();
                if (_options.Source.IsLive) return $"read failed: {capture.LastReadError}";
                if (expectedFrames > 0 && framesInFile < expectedFrames - 1)
                {
                    return $"the file ended after {framesInFile} of {expectedFrames} frames (truncated or corrupt): {capture.LastReadError}";
                }
                return null;
            }
            var captured = MonotonicClock.NowNs;
            framesInFile++;
            var size = (W: frame.Image.Cols, H: frame.Image.Rows);
            if (expectedSize != size)
            {
                if (expectedSize != (0, 0))
                {
                    Raise(SourceEventKind.FrameSizeChanged, $"frames changed from {expectedSize.W}x{expectedSize.H} to {size.W}x{size.H}");
                }
                expectedSize = size;
                roi = default;
            }
            var sequence = Interlocked.Increment(ref _sequence);
            // The source's clock; files with B-frames report 0 near the end, so continue from the last one.
            var sourceMs = capture.Get(VideoCaptureProperties.PosMsec);
            if (sourceMs <= lastSourceMs) sourceMs = lastSourceMs + 1000 / fps;
            lastSourceMs = sourceMs;
            // The lit field of view is found again every 30 frames, but not on the frame's time: a
            // nearest-neighbour quarter of the frame (a sixteenth of its pixels) is kept, the frame
            // goes, and the region is measured on the quarter for the frames after it.
            var probe = false;
            if (roi.Width == 0) roi = RegionOf(frame.Image);
            else if (sequence % 30 == 0 && _options.RegionOfInterest == RegionOfInterestMode.Auto && size.W >= 4 && size.H >= 4)
            {
                Cv2.Resize(frame.Image, roiProbe, new Size(size.W / 4, size.H / 4), InterpolationFlags.Nearest);
                probe = true;
            }

            frame.Sequence = sequence;
            frame.CaptureTimestampNs = captured;
            frame.SourceTimestampMs = sourceMs;
            frame.RegionOfInterest = roi;
            Interlocked.Increment(ref _read);
            Frames.Publish(frame);
            if (probe) roi = Clip(Scale(FrameOps.FieldOfView(roiProbe), 4), size.W, size.H);
        }
        return null;
    }

    private Rect RegionOf(Mat image) => _options.RegionOfInterest switch
    {
        RegionOfInterestMode.Auto => FrameOps.FieldOfView(image),
        RegionOfInterestMode.Fixed when _options.FixedRegion is { } r => Clip(r, image),
        _ => Rect.Of(image),
    };

    private static Rect Scale(Rect r, int factor) => new(r.X * factor, r.Y * factor, r.Width * factor, r.Height * factor);

    private static Rect Clip(Rect r, int width, int height)
    {
        var x = Math.Clamp(r.X, 0, width - 1);
        var y = Math.Clamp(r.Y, 0, height - 1);
        return new Rect(x, y, Math.Clamp(r.Width, 1, width - x), Math.Clamp(r.Height, 1, height - y));
    }

    private static Rect Clip(Rect r, Mat image) => Clip(r, image.Cols, image.Rows);

    private void Raise(SourceEventKind kind, string message)
    {
        var e = new SourceEvent(kind, message, DateTimeOffset.UtcNow);
        lock (_events)
        {
            _events.Add(e);
            if (_events.Count > 200) _events.RemoveAt(0);
        }
        var level = kind is SourceEventKind.SourceLost or SourceEventKind.FrameSizeChanged ? LogLevel.Warning : LogLevel.Information;
        _log.Log(level, "Video source {Kind}: {Message}", kind, message);
        StateChanged?.Invoke(e);
    }
}

/// <summary>What the stream reports about itself.</summary>
public sealed record VideoProperties(string Backend, int Width, int Height, double Fps, string FourCC, int FrameCount)
{
    public override string ToString() =>
        $"{Width}x{Height} @ {Fps:0.##} fps, {(FourCC.Length > 0 ? FourCC : "?")}, back-end {Backend}" + (FrameCount > 0 ? $", {FrameCount} frames" : "");
}

/// <summary>A source that cannot be opened or read, with the reason.</summary>
public sealed class VideoSourceException(string message, Exception? inner = null) : Exception(message, inner);
