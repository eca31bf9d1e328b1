using System.Collections.Concurrent;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;
using Microsoft.ML.OnnxRuntime;

namespace M2SNet.Edge.Inference;

/// <summary>ORT's status codes, as its messages name them ("[ErrorCode:InvalidProtobuf] ...").</summary>
public enum OrtErrorCode
{
    Ok,
    Fail,
    InvalidArgument,
    NoSuchFile,
    NoModel,
    EngineError,
    RuntimeException,
    InvalidProtobuf,
    ModelLoaded,
    NotImplemented,
    InvalidGraph,
    ShapeInferenceNotRegistered,
    RequirementNotRegistered,
    ExecutionProviderFail,
}

/// <summary>No provider of the preference list could run the model; the message has each one's reason.</summary>
public sealed class ExecutionProviderException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>A provider that was skipped, and why (e.g. the CUDA library it needs is missing).</summary>
public sealed record ProviderFailure(ExecutionProvider Provider, string Reason);

/// <summary>
/// An ORT <see cref="InferenceSession"/> on the first provider of a preference list that loads
/// and accepts the model, with the provider it got and the reasons the ones before it were skipped.
/// </summary>
public sealed partial class ProviderSession : InferenceSession
{
    private static readonly ConcurrentDictionary<string, bool> s_loggedFailures = new();
    private static readonly RunOptions s_defaultRun = new();

    private ProviderSession(string path, SessionOptions options, ExecutionProvider provider, IReadOnlyList<ProviderFailure> failures)
        : base(path, options)
    {
        ExecutionProvider = provider;
        ProviderFailures = failures;
    }

    private ProviderSession(byte[] model, SessionOptions options, ExecutionProvider provider, IReadOnlyList<ProviderFailure> failures)
        : base(model, options)
    {
        ExecutionProvider = provider;
        ProviderFailures = failures;
    }

    /// <summary>The provider the session runs on.</summary>
    public ExecutionProvider ExecutionProvider { get; }

    /// <summary>Providers tried before it, with the reason each was skipped.</summary>
    public IReadOnlyList<ProviderFailure> ProviderFailures { get; }

    /// <summary>Run options with defaults, for calls that set none.</summary>
    public static RunOptions DefaultRun => s_defaultRun;

    public static ProviderSession Create(string modelPath, SessionSettings? settings = null) =>
        Create(settings ?? new SessionSettings(), (options, provider, failures) => new ProviderSession(modelPath, options, provider, failures));

    public static ProviderSession Create(byte[] model, SessionSettings? settings = null) =>
        Create(settings ?? new SessionSettings(), (options, provider, failures) => new ProviderSession(model, options, provider, failures));

    /// <summary>Runs the bound inputs into the bound outputs.</summary>
    public void RunWithBinding(OrtIoBinding binding) => RunWithBinding(s_defaultRun, binding);

    /// <summary>The model's custom metadata value for <paramref name="key"/>, or null.</summary>
    public string? GetCustomMetadata(string key) => ModelMetadata.CustomMetadataMap.TryGetValue(key, out var value) ? value : null;

    private static ProviderSession Create(SessionSettings settings,
        Func<SessionOptions, ExecutionProvider, IReadOnlyList<ProviderFailure>, ProviderSession> open)
    {
        if (settings.ExecutionProviders.Count == 0) throw new ArgumentException("the execution provider preference list is empty", nameof(settings));
        var environment = OrtEnvironment.Instance;
        var failures = new List<ProviderFailure>();
        Exception? last = null;
        foreach (var provider in settings.ExecutionProviders)
        {
            if (provider is not CpuExecutionProvider && !environment.AvailableProviders.Contains(provider.OrtName))
            {
                // Expected on a CPU build: said once, quietly.
                Skip(provider, $"not in this ONNX Runtime build ({OrtEnvironment.Flavor} flavour, {environment.Version}; it has {string.Join(", ", environment.AvailableProviders)})", failures, LogLevel.Information);
                continue;
            }
            using var capture = OrtEnvironment.Capture();
            SessionOptions? options = null;
            try
            {
                options = settings.Create(provider);
                return open(options, provider, [.. failures]);
            }
            catch (Exception e) when (e is OnnxRuntimeException ort ? !IsModelError(ort)
                                      : e is EntryPointNotFoundException or DllNotFoundException or NotSupportedException or PlatformNotSupportedException)
            {
                Skip(provider, Describe(e.Message, capture.Messages), failures, LogLevel.Warning);
                last = e;
            }
            finally
            {
                options?.Dispose();
            }
        }
        throw new ExecutionProviderException(
            "none of the execution providers could run the model: " + string.Join("; ", failures.Select(f => $"{f.Provider.Name}: {f.Reason}")), last);
    }

    /// <summary>The error code ORT put at the start of its message ("[ErrorCode:InvalidProtobuf] ...").</summary>
    public static OrtErrorCode? ErrorCodeOf(OnnxRuntimeException e)
    {
        var m = ErrorCodePattern().Match(e.Message);
        return m.Success && Enum.TryParse<OrtErrorCode>(m.Groups[1].Value, out var code) ? code : null;
    }

    /// <summary>A model that ORT cannot use on any provider: no point trying the next one.</summary>
    private static bool IsModelError(OnnxRuntimeException e) =>
        ErrorCodeOf(e) is OrtErrorCode.NoSuchFile or OrtErrorCode.NoModel or OrtErrorCode.InvalidProtobuf or OrtErrorCode.InvalidGraph or OrtErrorCode.InvalidArgument;

    /// <summary>
    /// ORT's exception for a provider that cannot load says little; its log line names the
    /// library the loader could not open. Keep the part a person can act on.
    /// </summary>
    internal static string Describe(string exceptionMessage, IReadOnlyList<string> logged)
    {
        foreach (var line in logged.Append(exceptionMessage))
        {
            var m = MissingLibraryPattern().Match(line);
            if (m.Success)
            {
                var provider = Path.GetFileName(m.Groups[1].Value);
                var error = m.Groups[3].Value.Trim();
                return m.Groups[2].Success
                    ? $"{m.Groups[2].Value} is missing ({provider} needs it: {error})"
                    : $"{provider} could not be loaded ({error})";
            }
        }
        var message = exceptionMessage;
        var marker = message.LastIndexOf("] : ", StringComparison.Ordinal);
        if (marker >= 0) message = message[(marker + 4)..];
        return ErrorCodePattern().Replace(message, "").Trim();
    }

    private static void Skip(ExecutionProvider provider, string reason, List<ProviderFailure> failures, LogLevel level)
    {
        failures.Add(new ProviderFailure(provider, reason));
        if (s_loggedFailures.TryAdd(provider.Name + "\n" + reason, true))
        {
            OrtEnvironment.Log.Log(level, "Execution provider {Provider} is not used: {Reason}", provider.Name, reason);
        }
    }

    [GeneratedRegex(@"^\[ErrorCode:(\w+)\]\s*")]
    private static partial Regex ErrorCodePattern();

    // "Failed to load library libonnxruntime_providers_cuda.so with error: libcublasLt.so.13: cannot open shared object file: ..."
    [GeneratedRegex(@"Failed to load library (\S+?)(?: with error)?: (?:(\S+\.so[.\d]*|\S+\.dll): )?(.+)$")]
    private static partial Regex MissingLibraryPattern();
}
