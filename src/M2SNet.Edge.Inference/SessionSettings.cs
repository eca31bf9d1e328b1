using Microsoft.ML.OnnxRuntime;

namespace M2SNet.Edge.Inference;

/// <summary>
/// What a session is made with, independent of the provider: ORT's <see cref="SessionOptions"/>
/// hold one provider, so a fresh set is built from these for each provider tried.
/// </summary>
public sealed record SessionSettings
{
    /// <summary>Threads for one operator; 0 lets ORT use one per core.</summary>
    public int IntraOpNumThreads { get; init; }

    public int InterOpNumThreads { get; init; }

    /// <summary>Let idle ORT threads spin (lower latency, a busy core); off by default on an appliance that shares its cores.</summary>
    public bool AllowSpinning { get; init; }

    public GraphOptimizationLevel GraphOptimizationLevel { get; init; } = GraphOptimizationLevel.ORT_ENABLE_ALL;

    public bool EnableMemoryPattern { get; init; } = true;

    public bool EnableCpuMemArena { get; init; } = true;

    public string? LogId { get; init; }

    /// <summary>Profile the session into files starting with this prefix.</summary>
    public string? ProfileOutputPathPrefix { get; init; }

    /// <summary>Write the graph as ORT optimised it (fusions applied) to this file: what actually runs.</summary>
    public string? OptimizedModelFilePath { get; init; }

    public OrtLoggingLevel LogSeverityLevel { get; init; } = OrtLoggingLevel.ORT_LOGGING_LEVEL_WARNING;

    /// <summary>Providers in order of preference; the first one that works is used. CPU by default.</summary>
    public IReadOnlyList<ExecutionProvider> ExecutionProviders { get; init; } = [ExecutionProvider.Cpu];

    /// <summary>Session configuration entries (ORT's onnxruntime_session_options_config_keys.h).</summary>
    public IReadOnlyDictionary<string, string> ConfigEntries { get; init; } = new Dictionary<string, string>();

    internal SessionOptions Create(ExecutionProvider provider)
    {
        if (IntraOpNumThreads < 0) throw new ArgumentOutOfRangeException(nameof(IntraOpNumThreads), IntraOpNumThreads, "thread counts cannot be negative");
        if (InterOpNumThreads < 0) throw new ArgumentOutOfRangeException(nameof(InterOpNumThreads), InterOpNumThreads, "thread counts cannot be negative");
        var options = new SessionOptions();
        try
        {
            options.IntraOpNumThreads = IntraOpNumThreads;
            options.InterOpNumThreads = InterOpNumThreads;
            options.GraphOptimizationLevel = GraphOptimizationLevel;
            options.ExecutionMode = ExecutionMode.ORT_SEQUENTIAL;
            options.EnableMemoryPattern = EnableMemoryPattern;
            options.EnableCpuMemArena = EnableCpuMemArena;
            options.LogSeverityLevel = LogSeverityLevel;
            if (LogId is not null) options.LogId = LogId;
            if (ProfileOutputPathPrefix is not null)
            {
                options.ProfileOutputPathPrefix = ProfileOutputPathPrefix;
                options.EnableProfiling = true;
            }
            if (OptimizedModelFilePath is not null) options.OptimizedModelFilePath = OptimizedModelFilePath;
            var spin = AllowSpinning ? "1" : "0";
            var entries = new Dictionary<string, string>(ConfigEntries, StringComparer.Ordinal);
            entries.TryAdd("session.intra_op.allow_spinning", spin);
            entries.TryAdd("session.inter_op.allow_spinning", spin);
            foreach (var (key, value) in entries) options.AddSessionConfigEntry(key, value);
            provider.AppendTo(options);
            return options;
        }
        catch
        {
            options.Dispose();
            throw;
        }
    }
}
