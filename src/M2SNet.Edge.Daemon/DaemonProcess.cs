using M2SNet.Edge.Inference;
using Microsoft.ML.OnnxRuntime;
using M2SNet.Edge.OpenCv;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;

namespace M2SNet.Edge.Daemon;

/// <summary>
/// What belongs to the process, not to one host: set once, at the first start, and kept for the
/// process's life (a test run starts many hosts in one process; they share these).
/// </summary>
public static class DaemonProcess
{
    private static readonly Lock s_gate = new();
    private static ILoggerFactory? s_logs;

    /// <summary>Applies the process-wide settings; later calls (another host in the same process) change nothing.</summary>
    public static void Initialize(IConfiguration configuration)
    {
        lock (s_gate)
        {
            if (s_logs is not null) return;
            // ONNX Runtime's own log outlives any one host, so it has its own logger factory.
            s_logs = LoggerFactory.Create(b => b.AddConfiguration(configuration.GetSection("Logging")).AddConsole());
            // Frames are due every 33 ms: no blocking full collections while the video runs.
            System.Runtime.GCSettings.LatencyMode = System.Runtime.GCLatencyMode.SustainedLowLatency;
            // OpenCV's own worker threads would compete with ONNX Runtime's for the same cores.
            Cv2.SetNumThreads(1);
            OrtEnvironment.UseLogger(s_logs);
            var library = configuration[OrtEnvironmentOptions.LibraryPathConfigKey];
            try
            {
                OrtEnvironment.Initialize(new OrtEnvironmentOptions { LibraryPath = string.IsNullOrWhiteSpace(library) ? null : library });
            }
            catch (OrtLibraryException e)
            {
                // The daemon still starts and says NOT_SERVING with this reason (the model load fails the same way).
                s_logs.CreateLogger("m2s-edged").LogCritical("{Reason}", e.Message);
            }
        }
    }
}
