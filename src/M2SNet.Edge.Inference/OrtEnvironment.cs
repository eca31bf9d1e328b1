using System.Reflection;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.ML.OnnxRuntime;

namespace M2SNet.Edge.Inference;

/// <summary>How the process-wide ONNX Runtime environment is set up.</summary>
public sealed record OrtEnvironmentOptions
{
    /// <summary>Environment variable naming another ORT library to load (e.g. a DirectML build of onnxruntime.dll).</summary>
    public const string LibraryPathVariable = "M2S_ORT_LIBRARY";

    /// <summary>Configuration key with the same meaning as <see cref="LibraryPathVariable"/>.</summary>
    public const string LibraryPathConfigKey = "OnnxRuntime:LibraryPath";

    /// <summary>Path of the ORT shared library; null picks the environment variable, then the package's own.</summary>
    public string? LibraryPath { get; init; }

    /// <summary>Lowest severity of ORT's own messages that reach the logger.</summary>
    public OrtLoggingLevel LogLevel { get; init; } = OrtLoggingLevel.ORT_LOGGING_LEVEL_WARNING;

    public string LogId { get; init; } = "m2snet-edge";
}

/// <summary>An ORT library that cannot be loaded, with what was tried.</summary>
public sealed class OrtLibraryException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// The one ONNX Runtime environment of the process, on the official managed package: which
/// library it runs (the package's own, or one named by path), its version, and its log routed to
/// the .NET logger. Created on first use.
/// </summary>
public sealed class OrtEnvironment
{
    private static readonly Lock s_gate = new();
    private static OrtEnvironment? s_instance;
    private static ILogger s_ortLog = NullLogger.Instance;
    // Kept in a static so the delegate ORT calls back outlives every session.
    private static readonly DOrtLoggingFunction s_logFunction = OnOrtLog;
    [ThreadStatic] private static List<string>? t_capture;

    private OrtEnvironment(string libraryPath, OrtEnvironmentOptions options)
    {
        Options = options;
        var env = OrtEnv.Instance();
        Version = env.GetVersionString();
        AvailableProviders = env.GetAvailableProviders();
        LibraryPath = libraryPath;
    }

    /// <summary>The environment, created with default options (or those given to <see cref="Initialize"/>).</summary>
    public static OrtEnvironment Instance => Volatile.Read(ref s_instance) ?? Initialize(new OrtEnvironmentOptions());

    public static bool IsInitialized => Volatile.Read(ref s_instance) is not null;

    /// <summary>The ORT library file in use.</summary>
    public string LibraryPath { get; }

    /// <summary>ORT's version, e.g. "1.31.1".</summary>
    public string Version { get; }

    /// <summary>
    /// Execution providers compiled into the library. A GPU build lists CUDA and TensorRT even on
    /// a machine without CUDA, so this says what may be tried, not what works.
    /// </summary>
    public IReadOnlyList<string> AvailableProviders { get; }

    public OrtEnvironmentOptions Options { get; }

    /// <summary>Which managed package flavour this build references: "Cpu" or "Gpu".</summary>
    public static string Flavor { get; } = typeof(OrtEnvironment).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
        .FirstOrDefault(a => a.Key == "OnnxRuntimeFlavor")?.Value ?? "Cpu";

    /// <summary>
    /// Loads ORT with these options. The first call wins; a later call naming another library
    /// fails, because one process holds one ORT.
    /// </summary>
    public static OrtEnvironment Initialize(OrtEnvironmentOptions options)
    {
        lock (s_gate)
        {
            if (s_instance is { } existing)
            {
                if (options.LibraryPath is not null && !SamePath(options.LibraryPath, existing.LibraryPath))
                {
                    throw new OrtLibraryException($"ONNX Runtime is already loaded from {existing.LibraryPath}; cannot switch to {options.LibraryPath} in the same process");
                }
                return existing;
            }
            var chosen = ChosenLibrary(options.LibraryPath);
            if (chosen is not null) UseLibrary(chosen);
            try
            {
                var creation = new EnvironmentCreationOptions
                {
                    logId = options.LogId,
                    logLevel = options.LogLevel,
                    loggingFunction = s_logFunction,
                };
                if (!OrtEnv.IsCreated) OrtEnv.CreateInstanceWithOptions(ref creation);
                // What the process really mapped, not what was asked for.
                s_instance = new OrtEnvironment(LoadedLibrary(chosen) ?? chosen ?? "(the ONNX Runtime package's library)", options);
            }
            catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or BadImageFormatException or TypeInitializationException)
            {
                var what = chosen ?? "the ONNX Runtime library of the NuGet package";
                throw new OrtLibraryException($"ONNX Runtime could not be loaded from {what}: {Innermost(e).Message}" +
                    (chosen is null ? "" : $" (check {OrtEnvironmentOptions.LibraryPathVariable} / --ort-library)"), e);
            }
            return s_instance;
        }
    }

    /// <summary>Routes ORT's log to this logger factory (category "OnnxRuntime").</summary>
    public static void UseLogger(ILoggerFactory loggerFactory) => Volatile.Write(ref s_ortLog, loggerFactory.CreateLogger("OnnxRuntime"));

    internal static ILogger Log => Volatile.Read(ref s_ortLog);

    /// <summary>Collects what ORT logs on this thread while the returned scope is open (a provider's reason for failing).</summary>
    internal static LogCapture Capture() => new();

    internal sealed class LogCapture : IDisposable
    {
        private readonly List<string>? _outer = t_capture;

        public LogCapture() => t_capture = Messages;

        public List<string> Messages { get; } = [];

        public void Dispose() => t_capture = _outer;
    }

    private static string? ChosenLibrary(string? explicitPath)
    {
        var path = !string.IsNullOrWhiteSpace(explicitPath) ? explicitPath : Environment.GetEnvironmentVariable(OrtEnvironmentOptions.LibraryPathVariable);
        if (string.IsNullOrWhiteSpace(path)) return null;
        if (!File.Exists(path)) throw new OrtLibraryException($"ONNX Runtime library {path}: no such file (check {OrtEnvironmentOptions.LibraryPathVariable} / --ort-library)");
        return Path.GetFullPath(path);
    }

    /// <summary>Makes the managed package load <paramref name="path"/> in place of its own library; only before its first call.</summary>
    private static void UseLibrary(string path)
    {
        var assembly = typeof(OrtEnv).Assembly;
        OrtEnv.DisableDllImportResolver = true;
        try
        {
            NativeLibrary.SetDllImportResolver(assembly, (name, _, _) =>
                name is "onnxruntime" or "libonnxruntime" or "onnxruntime.dll" or "libonnxruntime.so" ? NativeLibrary.Load(path) : 0);
        }
        catch (InvalidOperationException e)
        {
            throw new OrtLibraryException($"ONNX Runtime was already in use before {path} could be chosen; set {OrtEnvironmentOptions.LibraryPathVariable} before the first inference", e);
        }
    }

    /// <summary>The file the process mapped for ORT (Linux: from /proc/self/maps).</summary>
    private static string? LoadedLibrary(string? chosen)
    {
        if (OperatingSystem.IsLinux())
        {
            var wanted = "/" + (chosen is null ? "libonnxruntime.so" : Path.GetFileName(chosen));
            try
            {
                foreach (var line in File.ReadLines("/proc/self/maps"))
                {
                    var slash = line.IndexOf('/', StringComparison.Ordinal);
                    if (slash >= 0 && (line.EndsWith(wanted, StringComparison.Ordinal) || (chosen is null && line.Contains("/libonnxruntime.so.", StringComparison.Ordinal))))
                    {
                        return line[slash..];
                    }
                }
            }
            catch (IOException)
            {
            }
        }
        var file = OperatingSystem.IsWindows() ? "onnxruntime.dll" : OperatingSystem.IsMacOS() ? "libonnxruntime.dylib" : "libonnxruntime.so";
        var packaged = Path.Combine(AppContext.BaseDirectory, "runtimes", RuntimeInformation.RuntimeIdentifier, "native", file);
        return File.Exists(packaged) ? packaged : File.Exists(Path.Combine(AppContext.BaseDirectory, file)) ? Path.Combine(AppContext.BaseDirectory, file) : null;
    }

    private static bool SamePath(string a, string b) => string.Equals(Path.GetFullPath(a), Path.GetFullPath(b), StringComparison.Ordinal);

    private static Exception Innermost(Exception e) => e.InnerException is { } inner ? Innermost(inner) : e;

    private static void OnOrtLog(nint param, OrtLoggingLevel severity, string category, string logId, string codeLocation, string message)
    {
        try
        {
            if (severity >= OrtLoggingLevel.ORT_LOGGING_LEVEL_WARNING) t_capture?.Add(message);
            var log = Log;
            var level = severity switch
            {
                OrtLoggingLevel.ORT_LOGGING_LEVEL_VERBOSE => LogLevel.Trace,
                OrtLoggingLevel.ORT_LOGGING_LEVEL_INFO => LogLevel.Debug, // ORT's "info" is session set-up detail
                OrtLoggingLevel.ORT_LOGGING_LEVEL_WARNING => LogLevel.Warning,
                OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR => LogLevel.Error,
                _ => LogLevel.Critical,
            };
            if (log.IsEnabled(level)) log.Log(level, "{OrtCategory} {OrtLocation}: {OrtMessage}", category, codeLocation, message);
        }
        catch
        {
            // Nothing may unwind into ORT's native frames.
        }
    }
}
