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

    public PipelineOptions Pipeline { get; set; } = new();

    public ModelOptions Model { get; set; } = new();

    public StreamOptions Stream { get; set; } = new();

    public LimitOptions Limits { get; set; } = new();

    public EndpointOptions Endpoints { get; set; } = new();

    public TlsOptions Tls { get; set; } = new();

    public SystemdSettings Systemd { get; set; } = new();

    public ModelUpdateOptions Models { get; set; } = new();

    public AdminOptions Admin { get; set; } = new();

    public VideoOptions Video { get; set; } = new();

    public GpioOptions Gpio { get; set; } = new();
}

/// <summary>Offline model updates: where models are kept, whose signatures count, where bundles may be dropped.</summary>
public sealed class ModelUpdateOptions
{
    /// <summary>Stored models, the active choice, the audit log, partial uploads. Default: $STATE_DIRECTORY (systemd), else "state" beside the daemon.</summary>
    public string? StateDirectory { get; set; }

    /// <summary>Trusted public keys: PEM files or folders of them, comma-separated. None: no bundle is accepted.</summary>
    public string TrustedKeys { get; set; } = "";

    /// <summary>A folder watched for *.m2sbundle files (e.g. where a USB stick is mounted); empty: off.</summary>
    public string? DropFolder { get; set; }

    public double DropFolderPollSeconds { get; set; } = 2;

    /// <summary>Largest bundle accepted (upload or drop folder).</summary>
    public long MaxBundleBytes { get; set; } = 512L * 1024 * 1024;

    /// <summary>Space that must stay free on the state folder's disk after a bundle is stored and unpacked.</summary>
    public long MinFreeBytes { get; set; } = 256L * 1024 * 1024;

    /// <summary>The network input this appliance runs, "WIDTHxHEIGHT"; bundles for another size are refused. Empty: any.</summary>
    public string? RequiredInputSize { get; set; }

    /// <summary>Partial uploads older than this are deleted.</summary>
    public double UploadExpiryHours { get; set; } = 24;

    public string ResolveStateDirectory() =>
        !string.IsNullOrWhiteSpace(StateDirectory) ? StateDirectory!
        : Environment.GetEnvironmentVariable("STATE_DIRECTORY") is { Length: > 0 } systemd ? systemd.Split(':')[0]
        : Path.Combine(AppContext.BaseDirectory, "state");
}

/// <summary>Who may use the ModelAdmin service: loopback always; elsewhere TLS with a client certificate or the bearer token.</summary>
public sealed class AdminOptions
{
    public bool Enabled { get; set; } = true;

    /// <summary>A file holding the bearer token; it must not be readable by group or others.</summary>
    public string? TokenFile { get; set; }
}

/// <summary>
/// Who may receive patient video (StreamMasks, Segment, the web view): loopback always; from the
/// network TLS with a client certificate, or this token (gRPC: 'authorization: Bearer'; the web
/// view: its login page, then a session cookie).
/// </summary>
public sealed class VideoOptions
{
    /// <summary>A file holding the video token (mode 600); the admin token is accepted as well. Empty: client certificates only.</summary>
    public string? TokenFile { get; set; }

    /// <summary>How long a web view login lasts.</summary>
    public double SessionHours { get; set; } = 12;

    /// <summary>Web view sessions kept at once; beyond it the oldest log in again.</summary>
    public int MaxSessions { get; set; } = 256;
}

/// <summary>Foot pedal and status LEDs (firmware-config/gpio.json holds the appliance's pin map).</summary>
public sealed class GpioOptions
{
    public bool Enabled { get; set; }

    /// <summary>"libgpiod" (a real chip) or "simulated" (no hardware; tests and demos).</summary>
    public string Driver { get; set; } = "libgpiod";

    public string Chip { get; set; } = "/dev/gpiochip0";

    public int PedalPin { get; set; } = 17;

    /// <summary>The pedal closes to ground (input with pull-up, pressed = low).</summary>
    public bool PedalActiveLow { get; set; } = true;

    public int DebounceMilliseconds { get; set; } = 30;

    /// <summary>Held at least this long: freeze/unfreeze instead of toggling the overlay.</summary>
    public int LongPressMilliseconds { get; set; } = 800;

    public int ReadyLedPin { get; set; } = 22;

    public int InferencingLedPin { get; set; } = 23;

    public int FaultLedPin { get; set; } = 24;
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

/// <summary>How the frame's stages share the cores: what keeps the overhead's tail short.</summary>
public sealed class PipelineOptions
{
    /// <summary>
    /// How much nicer (Linux) the capture thread and its decoder threads run than the frame's stages
    /// (0–19): decoding the next frame yields the cores to the frame in flight, so its hand-offs do
    /// not wait behind it for a core. 0 treats them alike.
    /// </summary>
    public int DecodeNice { get; set; } = 5;

    /// <summary>
    /// Preprocess each frame on the inference thread, just before its inference: one hand-off (and
    /// one thread wake-up) fewer, and no preprocessing spent on frames dropped before inference.
    /// False gives preprocessing its own thread (the layout before issue 18, for comparison).
    /// </summary>
    public bool PreprocessOnInferenceThread { get; set; } = true;

    /// <summary>
    /// The time slice (µs) the stages' threads ask the scheduler for (Linux 6.12+): shorter than the
    /// 3 ms default, so a stage woken by a frame takes a core from a decoder thread at once rather
    /// than when its slice ends. 0 keeps the default.
    /// </summary>
    public int StageSliceMicroseconds { get; set; } = 200;

    /// <summary>
    /// Hand frames between threads with a lock-free wake (a futex on Linux): the woken stage needs
    /// nothing from the thread that woke it. False uses the semaphore of the layout before issue 18,
    /// whose woken reader had to re-take a lock from the capture thread: when that thread was then
    /// preempted by its own decoder threads, the frame waited up to a scheduler tick (4 ms).
    /// </summary>
    public bool LockFreeWake { get; set; } = true;
}

public sealed class ModelOptions
{
    /// <summary>
    /// The ONNX file; its manifest (model.json) sits next to it. Relative paths are from the daemon's
    /// folder. Several files, comma-separated, are alternatives of one model (float32 and int8): each
    /// is self-tested and timed at start, and the fastest that passes runs.
    /// </summary>
    public string Path { get; set; } = "models/m2snet-s-demo.onnx,models/m2snet-s-demo-int8.onnx";

    /// <summary>
    /// Execution providers in order of preference, comma-separated (TensorRT, CUDA, DirectML, CPU);
    /// the first that loads the model runs it. A string, not a list: configuration layers merge lists by index.
    /// </summary>
    public string Providers { get; set; } = "TensorRT,CUDA,DirectML,CPU";

    public int DeviceId { get; set; }

    /// <summary>ONNX Runtime intra-op threads; 0 = one per logical core.</summary>
    public int Threads { get; set; }

    /// <summary>Inference runs before the daemon reports ready.</summary>
    public int WarmupRuns { get; set; } = 3;

    /// <summary>
    /// TensorRT: built engines are cached under this folder, one subfolder per model (by its ONNX
    /// SHA-256), so a restart does not rebuild them (minutes). Default: trt-cache in the state folder.
    /// </summary>
    public string? TensorRtCachePath { get; set; }

    /// <summary>TensorRT builds fp16 kernels; the bundle's self-test on the golden pair still decides whether the engine is accurate enough.</summary>
    public bool TensorRtFp16 { get; set; } = true;

    /// <summary>Further TensorRT provider options by ONNX Runtime's names (e.g. trt_max_workspace_size).</summary>
    public Dictionary<string, string> TensorRtOptions { get; set; } = [];

    /// <summary>CUDA provider options by ONNX Runtime's names (e.g. gpu_mem_limit, cudnn_conv_algo_search, arena_extend_strategy).</summary>
    public Dictionary<string, string> CudaOptions { get; set; } = [];
}

public sealed class StreamOptions
{
    public MaskEncoding DefaultEncoding { get; set; } = MaskEncoding.Bitpacked;

    public int JpegQuality { get; set; } = 80;

    /// <summary>Concurrent StreamMasks and Segment calls; more get RESOURCE_EXHAUSTED (unless a subscriber has stopped reading: it makes room).</summary>
    public int MaxSubscribers { get; set; } = 32;

    /// <summary>Of those, what one address off this machine may hold (loopback is not limited).</summary>
    public int MaxSubscribersPerPeer { get; set; } = 8;

    /// <summary>A subscriber that takes no frame for this long while frames are there is evicted when a new viewer needs its place.</summary>
    public double StalledAfterSeconds { get; set; } = 5;
}

public sealed class LimitOptions
{
    /// <summary>Largest request message (a Segment frame with its envelope).</summary>
    public int MaxReceiveMessageBytes { get; set; } = 32 * 1024 * 1024;

    public int MaxSendMessageBytes { get; set; } = 32 * 1024 * 1024;

    /// <summary>Bytes of request messages that have begun to arrive but are not complete, all calls together; a call past it gets RESOURCE_EXHAUSTED.</summary>
    public long MaxUnfinishedMessageBytes { get; set; } = 64 * 1024 * 1024;

    /// <summary>Of those, what the calls of one address off this machine may hold (loopback is bound by the total only).</summary>
    public long MaxUnfinishedMessageBytesPerPeer { get; set; } = 40 * 1024 * 1024;

    /// <summary>Concurrent HTTP/2 streams (calls) one connection may open; more are refused by the transport (REFUSED_STREAM).</summary>
    public int MaxStreamsPerConnection { get; set; } = 100;

    /// <summary>
    /// Open connections, all endpoints together (an idle or half-opened one counts until the transport
    /// closes it); past it new connections are closed at once, so holding sockets cannot exhaust the daemon.
    /// </summary>
    public int MaxConnections { get; set; } = 256;

    /// <summary>A request message must finish arriving this long after its first byte was read (0: no limit).</summary>
    public double MessageTimeoutSeconds { get; set; } = 10;

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

    /// <summary>Client certificates issued by this CA (PEM) are accepted as credentials; empty: no client certificates.</summary>
    public string? ClientCaPath { get; set; }

    /// <summary>
    /// Every TLS connection, loopback included, must present such a certificate (refused in the
    /// handshake). Off: a certificate is asked for but optional, so token clients and browsers that
    /// log in get in too.
    /// </summary>
    public bool RequireClientCertificate { get; set; }
}
