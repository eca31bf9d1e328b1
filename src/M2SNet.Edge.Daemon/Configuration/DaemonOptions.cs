using M2SNet.Edge.Protocol.V1;

namespace M2SNet.Edge.Daemon.Configuration;

/// <summary>
/// Everything the daemon can be told, bound from the "Daemon" section of the layered
/// configuration (appsettings.json, firmware-config files, --config, M2S_ environment, command line).
/// </summary>
public sealed class DaemonOptions
{
    public const string Section = "Daemon";

    public SourceOptions Source { get; set; } = new();

    public ModelOptions Model { get; set; } = new();

    public StreamOptions Stream { get; set; } = new();

    public LimitOptions Limits { get; set; } = new();

    public EndpointOptions Endpoints { get; set; } = new();

    public TlsOptions Tls { get; set; } = new();

    public SystemdSettings Systemd { get; set; } = new();
}

/// <summary>Overrides of what systemd passes in the environment ($NOTIFY_SOCKET, $WATCHDOG_USEC), for tests and odd set-ups.</summary>
public sealed class SystemdSettings
{
    public string? NotifySocket { get; set; }

    public double? WatchdogSeconds { get; set; }
}

public sealed class SourceOptions
{
    /// <summary>"sample" (the bundled synthetic video), a file, /dev/videoN, rtsp://…, gst:…</summary>
    public string Uri { get; set; } = "sample";

    /// <summary>v4l2, ffmpeg, gstreamer; chosen from the URI when empty.</summary>
    public string? Backend { get; set; }

    public int? Width { get; set; }

    public int? Height { get; set; }

    public double? Fps { get; set; }

    /// <summary>Capture devices: MJPG, YUYV…</summary>
    public string? FourCC { get; set; }

    /// <summary>Files: start again at the end.</summary>
    public bool Loop { get; set; } = true;

    /// <summary>Files: play at their frame rate, as a live source would.</summary>
    public bool Realtime { get; set; } = true;

    /// <summary>"none" (whole frame), "auto" (the endoscope's lit field of view) or "x,y,width,height".</summary>
    public string RegionOfInterest { get; set; } = "auto";

    /// <summary>The bundled sample's size (1920x1080, as an HD endoscopy tower outputs).</summary>
    public int SampleWidth { get; set; } = 1920;

    public int SampleHeight { get; set; } = 1080;
}

public sealed class ModelOptions
{
    /// <summary>The ONNX file; its manifest (model.json) sits next to it. Relative paths are from the daemon's folder.</summary>
    public string Path { get; set; } = "models/m2snet-s-demo.onnx";

    /// <summary>
    /// Execution providers in order of preference, comma-separated (TensorRT, CUDA, DirectML, CPU);
    /// the first that loads the model runs it. A string, not a list: configuration layers merge lists by index.
    /// </summary>
    public string Providers { get; set; } = "CPU";

    public int DeviceId { get; set; }

    /// <summary>ONNX Runtime intra-op threads; 0 = one per logical core.</summary>
    public int Threads { get; set; }

    /// <summary>Inference runs before the daemon reports ready.</summary>
    public int WarmupRuns { get; set; } = 3;

    /// <summary>TensorRT: engines are cached here (first build takes minutes).</summary>
    public string? TensorRtCachePath { get; set; }

    public bool TensorRtFp16 { get; set; }
}

public sealed class StreamOptions
{
    public MaskEncoding DefaultEncoding { get; set; } = MaskEncoding.Bitpacked;

    public int JpegQuality { get; set; } = 80;

    /// <summary>Concurrent StreamMasks and Segment calls; more get RESOURCE_EXHAUSTED.</summary>
    public int MaxSubscribers { get; set; } = 32;
}

public sealed class LimitOptions
{
    /// <summary>Largest request message (a Segment frame with its envelope).</summary>
    public int MaxReceiveMessageBytes { get; set; } = 32 * 1024 * 1024;

    public int MaxSendMessageBytes { get; set; } = 32 * 1024 * 1024;

    /// <summary>Largest frame a client may send to Segment; larger ones get INVALID_ARGUMENT.</summary>
    public int MaxFrameWidth { get; set; } = 3840;

    public int MaxFrameHeight { get; set; } = 2160;

    /// <summary>Largest mask a client may ask for.</summary>
    public int MaxMaskWidth { get; set; } = 3840;

    public int MaxMaskHeight { get; set; } = 2160;
}

public sealed class EndpointOptions
{
    /// <summary>The gRPC endpoint (HTTP/2). Loopback unless the appliance's configuration opens it.</summary>
    public string Grpc { get; set; } = "http://127.0.0.1:50051";

    /// <summary>Plain HTTP: /metrics (Prometheus), /healthz. Empty to turn it off.</summary>
    public string Http { get; set; } = "http://127.0.0.1:50052";
}

public sealed class TlsOptions
{
    /// <summary>PEM certificate (chain) for https:// endpoints.</summary>
    public string? CertificatePath { get; set; }

    public string? KeyPath { get; set; }

    /// <summary>Clients must present a certificate issued by this CA (PEM); empty: no client certificates.</summary>
    public string? ClientCaPath { get; set; }
}
