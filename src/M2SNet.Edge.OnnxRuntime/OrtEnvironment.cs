using System.Runtime.InteropServices;
using M2SNet.Edge.OnnxRuntime.Native;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace M2SNet.Edge.OnnxRuntime;

/// <summary>How the process-wide ONNX Runtime environment is set up.</summary>
public sealed record OrtEnvironmentOptions
{
    /// <summary>Environment variable naming the ORT library to load (any ORT build, e.g. the GPU release).</summary>
    public const string LibraryPathVariable = "M2S_ORT_LIBRARY";

    /// <summary>Configuration key with the same meaning as <see cref="LibraryPathVariable"/>.</summary>
    public const string LibraryPathConfigKey = "OnnxRuntime:LibraryPath";

    /// <summary>Path of the ORT shared library; null picks the environment variable, then the bundled copy.</summary>
    public string? LibraryPath { get; init; }

    /// <summary>Lowest severity of ORT's own messages that reach the logger.</summary>
    public OrtLoggingLevel LogLevel { get; init; } = OrtLoggingLevel.Warning;

    public string LogId { get; init; } = "m2snet-edge";
}

/// <summary>
/// The one ONNX Runtime environment of the process: the loaded library, its function table and
/// the OrtEnv whose log is routed to the .NET logger. Created on first use; sessions keep it alive.
/// </summary>
public sealed unsafe class OrtEnvironment
{
    private static readonly Lock s_gate = new();
    private static OrtEnvironment? s_instance;
    private static ILogger s_ortLog = NullLogger.Instance;

    private OrtEnvironment(string libraryPath, nint library, OrtApi api, nint env, OrtEnvironmentOptions options)
    {
        LibraryPath = libraryPath;
        LibraryHandle = library;
        Api = api;
        Handle = env;
        Options = options;
        BuildInfo = Marshal.PtrToStringUTF8((nint)api.GetBuildInfoString()) ?? string.Empty;
        AvailableProviders = ReadAvailableProviders(api);
    }

    /// <summary>The environment, created with default options (or those given to <see cref="Initialize"/>).</summary>
    public static OrtEnvironment Instance
    {
        get
        {
            var e = Volatile.Read(ref s_instance);
            return e ?? Initialize(new OrtEnvironmentOptions());
        }
    }

    /// <summary>True once the library is loaded.</summary>
    public static bool IsInitialized => Volatile.Read(ref s_instance) is not null;

    public string LibraryPath { get; }

    /// <summary>ORT's version, e.g. "1.30.0".</summary>
    public string Version => Api.VersionString;

    public string BuildInfo { get; }

    /// <summary>Execution providers compiled into the loaded library, e.g. "CUDAExecutionProvider".</summary>
    public IReadOnlyList<string> AvailableProviders { get; }

    public OrtEnvironmentOptions Options { get; }

    internal OrtApi Api { get; }

    internal nint Handle { get; }

    internal nint LibraryHandle { get; }

    /// <summary>
    /// Loads ORT with these options. The first call wins; a later call with another library path
    /// fails, because one process can hold only one ORT environment.
    /// </summary>
    public static OrtEnvironment Initialize(OrtEnvironmentOptions options)
    {
        lock (s_gate)
        {
            if (s_instance is { } existing)
            {
                if (options.LibraryPath is not null && !SamePath(options.LibraryPath, existing.LibraryPath))
                {
                    throw new OrtLibraryException(
                        $"ONNX Runtime is already loaded from {existing.LibraryPath}; cannot switch to {options.LibraryPath} in the same process");
                }
                return existing;
            }
            var (path, library, api) = LoadLibrary(options.LibraryPath);
            nint env;
            using (var logId = new Utf8Strings())
            {
                var logger = (delegate* unmanaged<nint, OrtLoggingLevel, byte*, byte*, byte*, byte*, void>)&OnOrtLog;
                api.Check(api.CreateEnvWithCustomLogger((nint)logger, 0, options.LogLevel, logId.Add(options.LogId), &env));
            }
            s_instance = new OrtEnvironment(path, library, api, env, options);
            return s_instance;
        }
    }

    /// <summary>Routes ORT's log to this logger factory (category "OnnxRuntime").</summary>
    public static void UseLogger(ILoggerFactory loggerFactory) =>
        Volatile.Write(ref s_ortLog, loggerFactory.CreateLogger("OnnxRuntime"));

    internal static ILogger Log => Volatile.Read(ref s_ortLog);

    /// <summary>The library candidates in the order they are tried, for diagnostics.</summary>
    public static IReadOnlyList<string> LibraryCandidates(string? explicitPath)
    {
        if (!string.IsNullOrWhiteSpace(explicitPath)) return [explicitPath];
        var fromEnvironment = Environment.GetEnvironmentVariable(OrtEnvironmentOptions.LibraryPathVariable);
        if (!string.IsNullOrWhiteSpace(fromEnvironment)) return [fromEnvironment];

        var fileName = OperatingSystem.IsWindows() ? "onnxruntime.dll"
            : OperatingSystem.IsMacOS() ? "libonnxruntime.dylib"
            : "libonnxruntime.so.1";
        var baseDir = AppContext.BaseDirectory;
        return
        [
            Path.Combine(baseDir, "runtimes", RuntimeInformation.RuntimeIdentifier, "native", fileName),
            Path.Combine(baseDir, "runtimes", PortableRid(), "native", fileName),
            Path.Combine(baseDir, fileName),
            fileName, // the system's library search path
        ];
    }

    internal static (string Path, nint Library, OrtApi Api) LoadLibrary(string? explicitPath)
    {
        var candidates = LibraryCandidates(explicitPath);
        var userChosen = !string.IsNullOrWhiteSpace(explicitPath)
            || !string.IsNullOrWhiteSpace(Environment.GetEnvironmentVariable(OrtEnvironmentOptions.LibraryPathVariable));
        var failures = new List<string>();
        foreach (var candidate in candidates.Distinct())
        {
            var isPath = candidate.Contains(Path.DirectorySeparatorChar) || candidate.Contains('/');
            if (isPath && !File.Exists(candidate))
            {
                failures.Add($"{candidate}: no such file");
                continue;
            }
            if (!NativeLibrary.TryLoad(candidate, out var library))
            {
                failures.Add($"{candidate}: could not be loaded (wrong architecture, or a dependency is missing)");
                continue;
            }
            if (!NativeLibrary.TryGetExport(library, "OrtGetApiBase", out var getApiBase))
            {
                failures.Add($"{candidate}: has no OrtGetApiBase export, so it is not ONNX Runtime");
                continue;
            }
            var apiBase = ((delegate* unmanaged<void**>)getApiBase)();
            var getApi = (delegate* unmanaged<uint, void**>)apiBase[0];
            var getVersion = (delegate* unmanaged<byte*>)apiBase[1];
            var version = Marshal.PtrToStringUTF8((nint)getVersion()) ?? "?";
            var table = getApi(OrtApi.RequiredApiVersion);
            if (table == null)
            {
                failures.Add($"{candidate}: ONNX Runtime {version} is older than 1.{OrtApi.RequiredApiVersion}, the oldest this binding supports");
                continue;
            }
            var resolved = isPath ? Path.GetFullPath(candidate) : candidate;
            return (resolved, library, new OrtApi(table, version));
        }
        var hint = userChosen
            ? $"check {OrtEnvironmentOptions.LibraryPathVariable} / {OrtEnvironmentOptions.LibraryPathConfigKey}"
            : "run build/bootstrap.sh onnxruntime, or point " + OrtEnvironmentOptions.LibraryPathVariable + " at an ONNX Runtime library";
        throw new OrtLibraryException($"ONNX Runtime could not be loaded ({hint}):{Environment.NewLine}  " + string.Join(Environment.NewLine + "  ", failures));
    }

    private static string PortableRid()
    {
        var os = OperatingSystem.IsWindows() ? "win" : OperatingSystem.IsMacOS() ? "osx" : "linux";
        var arch = RuntimeInformation.ProcessArchitecture.ToString().ToLowerInvariant();
        return $"{os}-{arch}";
    }

    private static bool SamePath(string a, string b) =>
        string.Equals(Path.GetFullPath(a), Path.GetFullPath(b), StringComparison.Ordinal);

    private static string[] ReadAvailableProviders(OrtApi api)
    {
        byte** names;
        int count;
        api.Check(api.GetAvailableProviders(&names, &count));
        try
        {
            var result = new string[count];
            for (var i = 0; i < count; i++) result[i] = Marshal.PtrToStringUTF8((nint)names[i]) ?? string.Empty;
            return result;
        }
        finally
        {
            api.Check(api.ReleaseAvailableProviders(names, count));
        }
    }

    [UnmanagedCallersOnly]
    private static void OnOrtLog(nint param, OrtLoggingLevel severity, byte* category, byte* logId, byte* codeLocation, byte* message)
    {
        try
        {
            var log = Log;
            var level = severity switch
            {
                OrtLoggingLevel.Verbose => LogLevel.Trace,
                OrtLoggingLevel.Info => LogLevel.Debug, // ORT's "info" is chatty: session set-up detail
                OrtLoggingLevel.Warning => LogLevel.Warning,
                OrtLoggingLevel.Error => LogLevel.Error,
                _ => LogLevel.Critical,
            };
            if (!log.IsEnabled(level)) return;
            log.Log(level, "{OrtCategory} {OrtLocation}: {OrtMessage}",
                Marshal.PtrToStringUTF8((nint)category),
                Marshal.PtrToStringUTF8((nint)codeLocation),
                Marshal.PtrToStringUTF8((nint)message));
        }
        catch
        {
            // An exception must never unwind into ORT's native frames.
        }
    }
}
