using System.Collections;
using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using M2SNet.Edge.OnnxRuntime.Native;
using Microsoft.Extensions.Logging;

namespace M2SNet.Edge.OnnxRuntime;

/// <summary>A read-only list that disposes its elements with itself (session outputs).</summary>
public interface IDisposableReadOnlyCollection<out T> : IReadOnlyList<T>, IDisposable;

/// <summary>One provider that was tried and not used, with ORT's reason.</summary>
public sealed record ProviderFailure(ExecutionProvider Provider, string Reason);

/// <summary>
/// A loaded model ready to run. Created from a file or bytes with a provider preference list;
/// the first provider that the library has and that accepts the model is used and reported in
/// <see cref="ExecutionProvider"/>. Runs may be issued concurrently from several threads.
/// </summary>
public sealed unsafe class InferenceSession : IDisposable
{
    // A provider that fails for a reason that will not change (not in this build) is logged once per process.
    private static readonly ConcurrentDictionary<string, bool> s_loggedFailures = new(StringComparer.Ordinal);

    private readonly OrtEnvironment _env;
    private readonly SessionHandle _handle;
    private readonly Utf8Strings _nativeNames = new();
    private readonly nint[] _inputNamePtrs;
    private readonly nint[] _outputNamePtrs;
    private readonly Dictionary<string, int> _inputIndex;
    private readonly Dictionary<string, int> _outputIndex;
    private volatile bool _disposed;

    public InferenceSession(string modelPath, SessionOptions? options = null)
        : this(modelPath, null, options)
    {
    }

    public InferenceSession(byte[] model, SessionOptions? options = null)
        : this(null, model ?? throw new ArgumentNullException(nameof(model)), options)
    {
    }

    private InferenceSession(string? modelPath, byte[]? model, SessionOptions? options)
    {
        options ??= new SessionOptions();
        _env = OrtEnvironment.Instance;
        (_handle, ExecutionProvider, ProviderFailures) = CreateWithFirstWorkingProvider(modelPath, model, options);
        try
        {
            InputMetadata = ReadMetadata(isInput: true);
            OutputMetadata = ReadMetadata(isInput: false);
            InputNames = [.. InputMetadata.Keys];
            OutputNames = [.. OutputMetadata.Keys];
            _inputNamePtrs = [.. InputNames.Select(n => (nint)_nativeNames.Add(n))];
            _outputNamePtrs = [.. OutputNames.Select(n => (nint)_nativeNames.Add(n))];
            _inputIndex = InputNames.Select((n, i) => (n, i)).ToDictionary(p => p.n, p => p.i, StringComparer.Ordinal);
            _outputIndex = OutputNames.Select((n, i) => (n, i)).ToDictionary(p => p.n, p => p.i, StringComparer.Ordinal);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>The provider the session runs on.</summary>
    public ExecutionProvider ExecutionProvider { get; }

    /// <summary>Providers tried before <see cref="ExecutionProvider"/>, with the reason each was skipped.</summary>
    public IReadOnlyList<ProviderFailure> ProviderFailures { get; }

    public IReadOnlyDictionary<string, NodeMetadata> InputMetadata { get; }

    public IReadOnlyDictionary<string, NodeMetadata> OutputMetadata { get; }

    public IReadOnlyList<string> InputNames { get; }

    public IReadOnlyList<string> OutputNames { get; }

    /// <summary>Runs the model on named inputs and returns every output, allocated by ORT.</summary>
    public IDisposableReadOnlyCollection<OrtValue> Run(IReadOnlyDictionary<string, OrtValue> inputs, RunOptions? runOptions = null) =>
        Run(runOptions, [.. inputs.Keys], [.. inputs.Values], OutputNames);

    /// <summary>Runs the model and returns the requested outputs, allocated by ORT.</summary>
    public IDisposableReadOnlyCollection<OrtValue> Run(
        RunOptions? runOptions, IReadOnlyList<string> inputNames, IReadOnlyList<OrtValue> inputs, IReadOnlyList<string> outputNames)
    {
        var outputs = new nint[outputNames.Count];
        RunCore(runOptions, inputNames, inputs, outputNames, outputs);
        var result = new OutputList(outputs.Length);
        foreach (var o in outputs) result.Add(OrtValue.FromNative(o));
        return result;
    }

    /// <summary>
    /// Runs the model writing into caller-allocated outputs of the right shape: the hot-loop form,
    /// with no allocation per run.
    /// </summary>
    public void Run(
        RunOptions? runOptions, IReadOnlyList<string> inputNames, IReadOnlyList<OrtValue> inputs,
        IReadOnlyList<string> outputNames, IReadOnlyList<OrtValue> outputs)
    {
        if (outputs.Count != outputNames.Count)
        {
            throw new ArgumentException($"{outputNames.Count} output names but {outputs.Count} output values");
        }
        Span<nint> handles = outputs.Count <= 16 ? stackalloc nint[outputs.Count] : new nint[outputs.Count];
        for (var i = 0; i < outputs.Count; i++) handles[i] = outputs[i].Handle;
        RunCore(runOptions, inputNames, inputs, outputNames, handles);
    }

    /// <summary>A binding of fixed inputs and outputs to this session (see <see cref="RunWithBinding"/>).</summary>
    public OrtIoBinding CreateIoBinding()
    {
        var api = _env.Api;
        var binding = new IoBindingHandle();
        nint native;
        using (Lease())
        {
            api.Check(api.CreateIoBinding(_handle.DangerousGetHandle(), &native));
        }
        binding.Adopt(native);
        return new OrtIoBinding(this, binding);
    }

    /// <summary>Runs the model on the values bound to <paramref name="binding"/>.</summary>
    public void RunWithBinding(OrtIoBinding binding, RunOptions? runOptions = null)
    {
        var api = _env.Api;
        using (Lease())
        {
            api.Check(api.RunWithBinding(_handle.DangerousGetHandle(), runOptions?.Handle ?? 0, binding.Handle));
        }
    }

    /// <summary>A custom metadata entry of the model (ONNX metadata_props), or null.</summary>
    public string? GetCustomMetadata(string key) => WithModelMetadata((api, metadata) =>
    {
        using var strings = new Utf8Strings();
        byte* value;
        api.Check(api.ModelMetadataLookupCustomMetadataMap(metadata, api.DefaultAllocator, strings.Add(key), &value));
        return value == null ? null : api.TakeAllocatedString(value);
    });

    /// <summary>Stops profiling (see <see cref="SessionOptions.ProfileOutputPathPrefix"/>) and returns the JSON file ORT wrote.</summary>
    public string EndProfiling()
    {
        var api = _env.Api;
        byte* path;
        using (Lease())
        {
            api.Check(api.SessionEndProfiling(_handle.DangerousGetHandle(), api.DefaultAllocator, &path));
        }
        return api.TakeAllocatedString(path);
    }

    /// <summary>The model's producer_name.</summary>
    public string ProducerName => WithModelMetadata((api, metadata) =>
    {
        byte* value;
        api.Check(api.ModelMetadataGetProducerName(metadata, api.DefaultAllocator, &value));
        return api.TakeAllocatedString(value);
    });

    internal byte* InputName(string name)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return (byte*)_inputNamePtrs[IndexOf(_inputIndex, name, "input")];
    }

    internal byte* OutputName(string name)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return (byte*)_outputNamePtrs[IndexOf(_outputIndex, name, "output")];
    }

    /// <summary>The native session, kept alive until the returned owner releases it (IO bindings hold one).</summary>
    internal SafeHandle NativeSession => _handle;

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _handle?.Dispose();
        _nativeNames.Dispose();
    }

    private void RunCore(
        RunOptions? runOptions, IReadOnlyList<string> inputNames, IReadOnlyList<OrtValue> inputs,
        IReadOnlyList<string> outputNames, Span<nint> outputs)
    {
        if (inputs.Count != inputNames.Count)
        {
            throw new ArgumentException($"{inputNames.Count} input names but {inputs.Count} input values");
        }
        var nIn = inputNames.Count;
        var nOut = outputNames.Count;
        Span<nint> inNames = nIn <= 16 ? stackalloc nint[nIn] : new nint[nIn];
        Span<nint> inValues = nIn <= 16 ? stackalloc nint[nIn] : new nint[nIn];
        Span<nint> outNames = nOut <= 16 ? stackalloc nint[nOut] : new nint[nOut];
        for (var i = 0; i < nIn; i++)
        {
            inNames[i] = (nint)InputName(inputNames[i]);
            inValues[i] = inputs[i].Handle;
        }
        for (var i = 0; i < nOut; i++) outNames[i] = (nint)OutputName(outputNames[i]);

        var api = _env.Api;
        using (Lease())
        {
            fixed (nint* pInNames = inNames, pInValues = inValues, pOutNames = outNames, pOutputs = outputs)
            {
                api.Check(api.Run(
                    _handle.DangerousGetHandle(), runOptions?.Handle ?? 0,
                    (byte**)pInNames, pInValues, (nuint)nIn,
                    (byte**)pOutNames, (nuint)nOut, pOutputs));
            }
        }
    }

    private T WithModelMetadata<T>(Func<OrtApi, nint, T> read)
    {
        var api = _env.Api;
        using var metadata = new ModelMetadataHandle();
        nint native;
        using (Lease())
        {
            api.Check(api.SessionGetModelMetadata(_handle.DangerousGetHandle(), &native));
        }
        metadata.Adopt(native);
        return read(api, native);
    }

    private static int IndexOf(Dictionary<string, int> index, string name, string kind) =>
        index.TryGetValue(name, out var i)
            ? i
            : throw new ArgumentException($"the model has no {kind} named '{name}' (its {kind}s: {string.Join(", ", index.Keys)})");

    /// <summary>Keeps the native session alive for the duration of a call, even if Dispose races it.</summary>
    private HandleLease Lease()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return new(_handle);
    }

    private (SessionHandle, ExecutionProvider, IReadOnlyList<ProviderFailure>) CreateWithFirstWorkingProvider(
        string? modelPath, byte[]? model, SessionOptions options)
    {
        if (options.ExecutionProviders.Count == 0)
        {
            throw new ArgumentException("the execution provider preference list is empty", nameof(options));
        }
        var failures = new List<ProviderFailure>();
        OrtException? lastError = null;
        foreach (var provider in options.ExecutionProviders)
        {
            if (provider is not CpuExecutionProvider && !_env.AvailableProviders.Contains(provider.OrtName))
            {
                Skip(provider, $"not in this ONNX Runtime build (it has {string.Join(", ", _env.AvailableProviders)})", failures);
                continue;
            }
            try
            {
                return (CreateNativeSession(modelPath, model, options, provider), provider, failures);
            }
            catch (OrtException e) when (!IsModelError(e.ErrorCode))
            {
                Skip(provider, DescribeProviderFailure(e), failures);
                lastError = e;
            }
        }
        throw lastError ?? new OrtException(OrtErrorCode.ExecutionProviderFail,
            "none of the execution providers is available: " + string.Join("; ", failures.Select(f => $"{f.Provider.Name}: {f.Reason}")));
    }

    /// <summary>ORT's provider errors carry source locations and codes; keep the part a person can act on.</summary>
    internal static string DescribeProviderFailure(OrtException e)
    {
        var m = System.Text.RegularExpressions.Regex.Match(e.OrtMessage, @"Failed to load library (\S+) with error: (?:\S+: )?(.+)$");
        if (m.Success)
        {
            return $"{Path.GetFileName(m.Groups[1].Value)} could not be loaded ({m.Groups[2].Value.Trim()}); " +
                $"this ONNX Runtime has no GPU provider libraries beside it: point {OrtEnvironmentOptions.LibraryPathVariable} at an ONNX Runtime GPU build";
        }
        var marker = e.OrtMessage.LastIndexOf("] : ", StringComparison.Ordinal);
        return marker >= 0 ? e.OrtMessage[(marker + 4)..].Trim() : e.OrtMessage;
    }

    private static bool IsModelError(OrtErrorCode code) => code is
        OrtErrorCode.NoSuchFile or OrtErrorCode.NoModel or OrtErrorCode.InvalidProtobuf or OrtErrorCode.InvalidGraph or OrtErrorCode.InvalidArgument;

    private static void Skip(ExecutionProvider provider, string reason, List<ProviderFailure> failures)
    {
        failures.Add(new ProviderFailure(provider, reason));
        if (s_loggedFailures.TryAdd(provider.Name + "\n" + reason, true))
        {
            OrtEnvironment.Log.LogWarning("Execution provider {Provider} is not used: {Reason}", provider.Name, reason);
        }
    }

    private SessionHandle CreateNativeSession(string? modelPath, byte[]? model, SessionOptions options, ExecutionProvider provider)
    {
        var api = _env.Api;
        using var nativeOptions = options.CreateNative(_env, provider);
        var session = new SessionHandle();
        nint native;
        if (model is not null)
        {
            fixed (byte* data = model)
            {
                api.Check(api.CreateSessionFromArray(_env.Handle, data, (nuint)model.Length, nativeOptions.DangerousGetHandle(), &native));
            }
        }
        else if (OperatingSystem.IsWindows())
        {
            fixed (char* path = modelPath)
            {
                api.Check(api.CreateSession(_env.Handle, path, nativeOptions.DangerousGetHandle(), &native));
            }
        }
        else
        {
            using var strings = new Utf8Strings();
            api.Check(api.CreateSession(_env.Handle, strings.Add(modelPath!), nativeOptions.DangerousGetHandle(), &native));
        }
        session.Adopt(native);
        return session;
    }

    private Dictionary<string, NodeMetadata> ReadMetadata(bool isInput)
    {
        var api = _env.Api;
        var session = _handle.DangerousGetHandle();
        nuint count;
        api.Check(isInput ? api.SessionGetInputCount(session, &count) : api.SessionGetOutputCount(session, &count));
        var result = new Dictionary<string, NodeMetadata>((int)count, StringComparer.Ordinal);
        for (nuint i = 0; i < count; i++)
        {
            byte* rawName;
            api.Check(isInput
                ? api.SessionGetInputName(session, i, api.DefaultAllocator, &rawName)
                : api.SessionGetOutputName(session, i, api.DefaultAllocator, &rawName));
            var name = api.TakeAllocatedString(rawName);

            using var typeInfo = new TypeInfoHandle();
            nint info;
            api.Check(isInput ? api.SessionGetInputTypeInfo(session, i, &info) : api.SessionGetOutputTypeInfo(session, i, &info));
            typeInfo.Adopt(info);
            OnnxValueType kind;
            api.Check(api.GetOnnxTypeFromTypeInfo(info, &kind));
            if (kind == OnnxValueType.Tensor)
            {
                nint tensorInfo; // owned by the type info
                api.Check(api.CastTypeInfoToTensorInfo(info, &tensorInfo));
                var t = TensorInfo.Read(api, tensorInfo);
                result.Add(name, new NodeMetadata(name, kind, t.ElementType, t.Dimensions, t.SymbolicDimensions));
            }
            else
            {
                result.Add(name, new NodeMetadata(name, kind, TensorElementType.Undefined, [], []));
            }
        }
        return result;
    }

    private readonly ref struct HandleLease
    {
        private readonly SafeHandle _handle;

        public HandleLease(SafeHandle handle)
        {
            var added = false;
            handle.DangerousAddRef(ref added);
            _handle = handle;
        }

        public void Dispose() => _handle.DangerousRelease();
    }

    private sealed class OutputList(int capacity) : IDisposableReadOnlyCollection<OrtValue>
    {
        private readonly List<OrtValue> _items = new(capacity);

        public OrtValue this[int index] => _items[index];

        public int Count => _items.Count;

        public void Add(OrtValue value) => _items.Add(value);

        public IEnumerator<OrtValue> GetEnumerator() => _items.GetEnumerator();

        IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

        public void Dispose()
        {
            foreach (var v in _items) v.Dispose();
            _items.Clear();
        }
    }
}
