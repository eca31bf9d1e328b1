using System.Runtime.InteropServices;
using static M2SNet.Edge.OpenCv.Native.LibOpenCv;

namespace M2SNet.Edge.OpenCv;

/// <summary>Which OpenCV back-end opens a source (cv::VideoCaptureAPIs).</summary>
public enum VideoCaptureAPIs
{
    Any = 0,
    V4L2 = 200,
    GStreamer = 1800,
    FFmpeg = 1900,
    Images = 2000,
    OpenCvMjpeg = 2200,
}

/// <summary>Capture properties (cv::VideoCaptureProperties).</summary>
public enum VideoCaptureProperties
{
    PosMsec = 0,
    PosFrames = 1,
    FrameWidth = 3,
    FrameHeight = 4,
    Fps = 5,
    FourCC = 6,
    FrameCount = 7,
    BufferSize = 38,
    Backend = 42,
    OpenTimeoutMsec = 53,
    ReadTimeoutMsec = 54,
}

/// <summary>Four-character codec codes (mp4v, MJPG, YUYV, ...).</summary>
public static class FourCC
{
    public static int FromString(string code)
    {
        if (code.Length != 4) throw new ArgumentException($"a FourCC has four characters, not '{code}'", nameof(code));
        return code[0] | (code[1] << 8) | (code[2] << 16) | (code[3] << 24);
    }

    public static string ToString(int value) =>
        value <= 0 ? "" : new string([(char)(value & 0xFF), (char)((value >> 8) & 0xFF), (char)((value >> 16) & 0xFF), (char)((value >> 24) & 0xFF)]);
}

/// <summary>
/// A video source: a capture device, a file or a network stream, decoded frame by frame. Unlike
/// OpenCV's own, the constructor fails with the reason (FFmpeg's own words included) instead of
/// leaving a closed capture.
/// </summary>
public sealed unsafe class VideoCapture : IDisposable
{
    private nint _handle;

    static VideoCapture() => m2s_video_hook_ffmpeg_log();

    /// <param name="parameters">Open-time properties as (id, value) pairs, e.g. timeouts.</param>
    public VideoCapture(string source, VideoCaptureAPIs api = VideoCaptureAPIs.Any, params int[] parameters) =>
        Open(source, 0, api, parameters);

    public VideoCapture(int index, VideoCaptureAPIs api = VideoCaptureAPIs.Any, params int[] parameters) =>
        Open(null, index, api, parameters);

    ~VideoCapture() => Free();

    private nint Handle
    {
        get
        {
            ObjectDisposedException.ThrowIf(_handle == 0, this);
            return _handle;
        }
    }

    /// <summary>Why the last <see cref="Read"/> returned false ("no more frames", FFmpeg's reason, ...).</summary>
    public string LastReadError { get; private set; } = "";

    public string BackendName
    {
        get
        {
            var buffer = stackalloc byte[64];
            Check(m2s_capture_backend_name(Handle, buffer, 64));
            return Marshal.PtrToStringUTF8((nint)buffer) ?? "";
        }
    }

    public int FrameWidth => (int)Get(VideoCaptureProperties.FrameWidth);

    public int FrameHeight => (int)Get(VideoCaptureProperties.FrameHeight);

    public double Fps => Get(VideoCaptureProperties.Fps);

    public int FrameCount => (int)Get(VideoCaptureProperties.FrameCount);

    public string FourCCText => FourCC.ToString((int)Get(VideoCaptureProperties.FourCC));

    /// <summary>Decodes the next frame into <paramref name="frame"/> (reused when its size fits); false at the end or on failure.</summary>
    public bool Read(Mat frame)
    {
        var r = m2s_capture_read(Handle, frame.Handle);
        if (r == 1) return true;
        LastReadError = LastError();
        return false;
    }

    public double Get(VideoCaptureProperties property) => m2s_capture_get(Handle, (int)property);

    public bool Set(VideoCaptureProperties property, double value) => m2s_capture_set(Handle, (int)property, value) == 1;

    public void Dispose()
    {
        Free();
        GC.SuppressFinalize(this);
    }

    private void Open(string? source, int index, VideoCaptureAPIs api, int[] parameters)
    {
        if (parameters.Length % 2 != 0) throw new ArgumentException("open parameters come in (property, value) pairs", nameof(parameters));
        nint handle;
        fixed (int* p = parameters) Check(m2s_capture_open(source, index, (int)api, p, parameters.Length, &handle));
        _handle = handle;
    }

    private void Free()
    {
        var h = Interlocked.Exchange(ref _handle, 0);
        if (h != 0) m2s_capture_free(h);
    }
}

/// <summary>Writes frames to a video file (the container chosen by extension, the codec by FourCC).</summary>
public sealed unsafe class VideoWriter : IDisposable
{
    private nint _handle;

    public VideoWriter(string path, int fourcc, double fps, Size size, bool isColor = true, VideoCaptureAPIs api = VideoCaptureAPIs.FFmpeg)
    {
        nint handle;
        Check(m2s_writer_open(path, (int)api, fourcc, fps, size.Width, size.Height, isColor ? 1 : 0, &handle));
        _handle = handle;
        Size = size;
    }

    ~VideoWriter() => Free();

    public Size Size { get; }

    public void Write(Mat frame)
    {
        ObjectDisposedException.ThrowIf(_handle == 0, this);
        if (frame.Cols != Size.Width || frame.Rows != Size.Height)
        {
            throw new ArgumentException($"the writer takes {Size.Width}x{Size.Height} frames, not {frame.Cols}x{frame.Rows}");
        }
        Check(m2s_writer_write(_handle, frame.Handle));
    }

    /// <summary>Finishes the file (trailer written) and releases the writer.</summary>
    public void Dispose()
    {
        Free();
        GC.SuppressFinalize(this);
    }

    private void Free()
    {
        var h = Interlocked.Exchange(ref _handle, 0);
        if (h != 0) m2s_writer_free(h);
    }
}

/// <summary>A rectangle in pixels.</summary>
public readonly record struct Rect(int X, int Y, int Width, int Height)
{
    public static Rect Of(Mat m) => new(0, 0, m.Cols, m.Rows);
}

/// <summary>
/// The per-frame work around a segmentation network, each in one native call: the network input
/// from a BGR frame, and masks, probability maps and overlays from the network output.
/// </summary>
public static unsafe class FrameOps
{
    /// <summary>Crop, bilinear resize, BGR → RGB, (v/255 − mean)/std into planar float32 [3, H, W].</summary>
    public static void Preprocess(Mat frame, Rect roi, int width, int height, ReadOnlySpan<float> mean, ReadOnlySpan<float> std, Span<float> destination)
    {
        if (destination.Length < 3 * width * height) throw new ArgumentException($"the destination holds {destination.Length} values, not 3x{width}x{height}");
        CheckRoi(frame, roi);
        fixed (float* m = mean)
        fixed (float* s = std)
        fixed (float* d = destination)
        {
            Check(m2s_preprocess(frame.Handle, roi.X, roi.Y, roi.Width, roi.Height, width, height, m, s, d));
        }
    }

    /// <summary>
    /// Network scores (height × width) to an 8-bit map of the source size: the region of interest
    /// gets the resized scores, the rest 0; binary (255 above the probability threshold) or the probability × 255.
    /// </summary>
    public static void ScoresToMap(ReadOnlySpan<float> scores, int height, int width, bool areLogits, bool binary, double threshold,
        Rect roi, Size sourceSize, Mat destination)
    {
        if (scores.Length < height * width) throw new ArgumentException($"{scores.Length} scores cannot fill {width}x{height}");
        fixed (float* s = scores)
        {
            Check(m2s_scores_to_map(s, height, width, areLogits ? 1 : 0, binary ? 1 : 0, (float)threshold,
                roi.X, roi.Y, roi.Width, roi.Height, sourceSize.Width, sourceSize.Height, destination.Handle));
        }
    }

    /// <summary>The frame with the mask tinted at <paramref name="opacity"/> and, with a thickness, outlined.</summary>
    public static void Overlay(Mat frame, Mat mask, Scalar color, double opacity, int contourThickness, Mat destination)
    {
        var c = stackalloc double[4];
        color.CopyTo(new Span<double>(c, 4));
        Check(m2s_overlay(frame.Handle, mask.Handle, c, opacity, contourThickness, destination.Handle));
    }

    /// <summary>The bounding box of the lit field of view (brighter than <paramref name="threshold"/>), cropping a black border.</summary>
    public static Rect FieldOfView(Mat frame, int threshold = 20)
    {
        int x, y, w, h;
        Check(m2s_field_of_view(frame.Handle, threshold, &x, &y, &w, &h));
        return new Rect(x, y, w, h);
    }

    private static void CheckRoi(Mat frame, Rect roi)
    {
        if (roi.X < 0 || roi.Y < 0 || roi.Width <= 0 || roi.Height <= 0 || roi.X + roi.Width > frame.Cols || roi.Y + roi.Height > frame.Rows)
        {
            throw new ArgumentException($"region {roi} is not inside the {frame.Cols}x{frame.Rows} frame");
        }
    }
}
