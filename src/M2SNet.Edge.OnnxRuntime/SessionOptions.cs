using M2SNet.Edge.OnnxRuntime.Native;

namespace M2SNet.Edge.OnnxRuntime;

/// <summary>
/// How a session is created. A plain description: the native options are built from it when a
/// session is created, once per provider tried, so one instance can create many sessions.
/// </summary>
public sealed class SessionOptions
{
    private readonly Dictionary<string, string> _configEntries = new(StringComparer.Ordinal);

    /// <summary>Threads for one operator (0: ORT's default, one per physical core).</summary>
    public int IntraOpNumThreads { get; set; }

    /// <summary>Threads across operators in parallel mode (0: ORT's default).</summary>
    public int InterOpNumThreads { get; set; }

    /// <summary>
    /// Whether idle worker threads spin waiting for work. Off by default: a daemon sharing the
    /// machine with video decoding must not burn cores between frames.
    /// </summary>
    public bool AllowSpinning { get; set; }

    public GraphOptimizationLevel GraphOptimizationLevel { get; set; } = GraphOptimizationLevel.EnableAll;

    public ExecutionMode ExecutionMode { get; set; } = ExecutionMode.Sequential;

    public bool EnableMemoryPattern { get; set; } = true;

    public bool EnableCpuMemArena { get; set; } = true;

    public string? LogId { get; set; }

    /// <summary>When set, ORT records every node's run time; <see cref="InferenceSession.EndProfiling"/> writes the JSON file.</summary>
    public string? ProfileOutputPathPrefix { get; set; }

    public OrtLoggingLevel LogSeverityLevel { get; set; } = OrtLoggingLevel.Warning;

    /// <summary>Providers in order of preference; the first one that works is used. CPU by default.</summary>
    public IList<ExecutionProvider> ExecutionProviders { get; set; } = [ExecutionProvider.Cpu];

    public IReadOnlyDictionary<string, string> ConfigEntries => _configEntries;

    /// <summary>A session configuration entry (see ORT's onnxruntime_session_options_config_keys.h).</summary>
    public void AddSessionConfigEntry(string key, string value) => _configEntries[key] = value;

    internal unsafe SessionOptionsHandle CreateNative(OrtEnvironment environment, ExecutionProvider provider)
    {
        if (IntraOpNumThreads < 0) throw new ArgumentOutOfRangeException(nameof(IntraOpNumThreads), IntraOpNumThreads, "thread counts cannot be negative");
        if (InterOpNumThreads < 0) throw new ArgumentOutOfRangeException(nameof(InterOpNumThreads), InterOpNumThreads, "thread counts cannot be negative");

        var api = environment.Api;
        var handle = new SessionOptionsHandle();
        try
        {
            nint native;
            api.Check(api.CreateSessionOptions(&native));
            handle.Adopt(native);
            api.Check(api.SetIntraOpNumThreads(native, IntraOpNumThreads));
            api.Check(api.SetInterOpNumThreads(native, InterOpNumThreads));
            api.Check(api.SetSessionGraphOptimizationLevel(native, GraphOptimizationLevel));
            api.Check(api.SetSessionExecutionMode(native, ExecutionMode));
            api.Check(EnableMemoryPattern ? api.EnableMemPattern(native) : api.DisableMemPattern(native));
            api.Check(EnableCpuMemArena ? api.EnableCpuMemArena(native) : api.DisableCpuMemArena(native));
            api.Check(api.SetSessionLogSeverityLevel(native, (int)LogSeverityLevel));

            using var strings = new Utf8Strings();
            if (LogId is not null) api.Check(api.SetSessionLogId(native, strings.Add(LogId)));
            if (ProfileOutputPathPrefix is not null)
            {
                if (OperatingSystem.IsWindows())
                {
                    fixed (char* prefix = ProfileOutputPathPrefix) api.Check(api.EnableProfiling(native, prefix));
                }
                else
                {
                    api.Check(api.EnableProfiling(native, strings.Add(ProfileOutputPathPrefix)));
                }
            }
            var spin = AllowSpinning ? "1" : "0";
            var entries = new Dictionary<string, string>(_configEntries, StringComparer.Ordinal);
            entries.TryAdd("session.intra_op.allow_spinning", spin);
            entries.TryAdd("session.inter_op.allow_spinning", spin);
            foreach (var (key, value) in entries)
            {
                api.Check(api.AddSessionConfigEntry(native, strings.Add(key), strings.Add(value)));
            }
            provider.AppendTo(environment, native);
            return handle;
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }
}
