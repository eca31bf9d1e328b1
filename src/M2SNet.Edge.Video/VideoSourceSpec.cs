using M2SNet.Edge.OpenCv;

namespace M2SNet.Edge.Video;

/// <summary>What kind of source a video source is: it decides the back-end and the behaviour on failure.</summary>
public enum VideoSourceKind
{
    /// <summary>A V4L2 capture device (/dev/videoN or an index): live, reconnects.</summary>
    Device,

    /// <summary>A video file: ends (or loops), paced in real time when asked.</summary>
    File,

    /// <summary>An RTSP, HTTP, UDP or TCP stream through FFmpeg: live, reconnects.</summary>
    Network,

    /// <summary>A GStreamer pipeline ("gst:" prefix), where GStreamer's plugins are installed: live, reconnects.</summary>
    GStreamer,
}

/// <summary>A parsed source string: kind, back-end and what to open.</summary>
public sealed record VideoSourceSpec(VideoSourceKind Kind, VideoCaptureAPIs Backend, string Location, int DeviceIndex)
{
    public bool IsLive => Kind != VideoSourceKind.File;

    /// <summary>
    /// Reads "/dev/video0", "0" (a device index), "rtsp://…", "http(s)://…", "udp://…", "tcp://…",
    /// "gst:&lt;pipeline&gt;" or a file path. The back-end is chosen explicitly (V4L2 for devices, FFmpeg
    /// for files and URLs, GStreamer for pipelines) unless <paramref name="backend"/> names another.
    /// </summary>
    public static VideoSourceSpec Parse(string source, string? backend = null)
    {
        if (string.IsNullOrWhiteSpace(source)) throw new ArgumentException("the video source is empty");
        var s = source.Trim();
        VideoSourceSpec spec;
        if (s.StartsWith("gst:", StringComparison.OrdinalIgnoreCase))
        {
            spec = new(VideoSourceKind.GStreamer, VideoCaptureAPIs.GStreamer, s[4..].Trim(), -1);
        }
        else if (int.TryParse(s, out var index) && index >= 0)
        {
            spec = new(VideoSourceKind.Device, VideoCaptureAPIs.V4L2, $"/dev/video{index}", index);
        }
        else if (s.StartsWith("/dev/video", StringComparison.Ordinal))
        {
            var tail = s["/dev/video".Length..];
            spec = new(VideoSourceKind.Device, VideoCaptureAPIs.V4L2, s, int.TryParse(tail, out var i) ? i : -1);
        }
        else if (Uri.TryCreate(s, UriKind.Absolute, out var uri) && uri.Scheme is "rtsp" or "rtsps" or "http" or "https" or "udp" or "tcp" or "rtmp" or "srt")
        {
            if (string.IsNullOrEmpty(uri.Host)) throw new ArgumentException($"the stream address '{s}' has no host");
            spec = new(VideoSourceKind.Network, VideoCaptureAPIs.FFmpeg, s, -1);
        }
        else if (s.Contains("://", StringComparison.Ordinal))
        {
            throw new ArgumentException($"'{s}' is not a stream address this appliance reads (rtsp, http(s), udp, tcp, rtmp, srt)");
        }
        else if (s.Contains('%', StringComparison.Ordinal))
        {
            // An image sequence such as frames/img_%04d.png.
            spec = new(VideoSourceKind.File, VideoCaptureAPIs.Images, Path.GetFullPath(s), -1);
        }
        else
        {
            spec = new(VideoSourceKind.File, VideoCaptureAPIs.FFmpeg, Path.GetFullPath(s), -1);
        }
        return backend is null ? spec : spec with { Backend = ParseBackend(backend) };
    }

    public static VideoCaptureAPIs ParseBackend(string name) => name.Trim().ToLowerInvariant() switch
    {
        "v4l2" or "v4l" => VideoCaptureAPIs.V4L2,
        "ffmpeg" => VideoCaptureAPIs.FFmpeg,
        "gstreamer" or "gst" => VideoCaptureAPIs.GStreamer,
        "mjpeg" => VideoCaptureAPIs.OpenCvMjpeg,
        "any" => VideoCaptureAPIs.Any,
        _ => throw new ArgumentException($"unknown video back-end '{name}' (v4l2, ffmpeg, gstreamer, mjpeg, any)"),
    };

    public override string ToString() => Kind == VideoSourceKind.Device && DeviceIndex >= 0 ? $"{Location} (V4L2)" : $"{Location} ({Backend})";
}
