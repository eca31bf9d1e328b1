using System.Globalization;
using System.Runtime.InteropServices;
using M2SNet.Edge.OnnxRuntime.Native;

namespace M2SNet.Edge.OnnxRuntime;

/// <summary>
/// A hardware back-end ORT can run a session on. Sessions take a preference list and use the
/// first provider that the library has and that accepts the model (<see cref="SessionOptions.ExecutionProviders"/>).
/// </summary>
public abstract record ExecutionProvider
{
    /// <summary>Short name used in configuration and reports: "TensorRT", "CUDA", "DirectML", "CPU".</summary>
    public abstract string Name { get; }

    /// <summary>ORT's registration name, as listed by <see cref="OrtEnvironment.AvailableProviders"/>.</summary>
    public abstract string OrtName { get; }

    public static ExecutionProvider Cpu { get; } = new CpuExecutionProvider();

    /// <summary>TensorRT, CUDA, DirectML, CPU: the fastest the machine offers, CPU always last.</summary>
    public static IReadOnlyList<ExecutionProvider> DefaultPreference { get; } =
        [new TensorRTExecutionProvider(), new CudaExecutionProvider(), new DirectMLExecutionProvider(), Cpu];

    /// <summary>Parses a configuration name ("tensorrt", "cuda", "directml"/"dml", "cpu"), case-insensitive.</summary>
    public static ExecutionProvider Parse(string name, int deviceId = 0) => name.Trim().ToLowerInvariant() switch
    {
        "tensorrt" or "trt" => new TensorRTExecutionProvider(deviceId),
        "cuda" => new CudaExecutionProvider(deviceId),
        "directml" or "dml" => new DirectMLExecutionProvider(deviceId),
        "cpu" => Cpu,
        _ => throw new ArgumentException($"unknown execution provider '{name}' (known: tensorrt, cuda, directml, cpu)", nameof(name)),
    };

    /// <summary>Adds this provider to native session options; throws <see cref="OrtException"/> if ORT refuses.</summary>
    internal abstract void AppendTo(OrtEnvironment environment, nint sessionOptions);

    public override string ToString() => Name;
}

public sealed record CpuExecutionProvider : ExecutionProvider
{
    public override string Name => "CPU";
    public override string OrtName => "CPUExecutionProvider";

    // The CPU provider is always present and needs no registration.
    internal override void AppendTo(OrtEnvironment environment, nint sessionOptions)
    {
    }
}

public sealed record CudaExecutionProvider(int DeviceId = 0) : ExecutionProvider
{
    public override string Name => "CUDA";
    public override string OrtName => "CUDAExecutionProvider";

    internal override unsafe void AppendTo(OrtEnvironment environment, nint sessionOptions)
    {
        var api = environment.Api;
        ProviderOptions.Append<CudaProviderOptionsHandle>(api, sessionOptions,
            api.CreateCudaProviderOptions, api.UpdateCudaProviderOptions, api.SessionOptionsAppendExecutionProviderCudaV2,
            new() { ["device_id"] = DeviceId.ToString(CultureInfo.InvariantCulture) });
    }
}

/// <param name="DeviceId">GPU ordinal.</param>
/// <param name="Fp16">Let TensorRT build fp16 kernels.</param>
/// <param name="EngineCachePath">Folder for built engines, so a restart does not rebuild them (minutes on a large model).</param>
public sealed record TensorRTExecutionProvider(int DeviceId = 0, bool Fp16 = false, string? EngineCachePath = null) : ExecutionProvider
{
    public override string Name => "TensorRT";
    public override string OrtName => "TensorrtExecutionProvider";

    internal override unsafe void AppendTo(OrtEnvironment environment, nint sessionOptions)
    {
        var values = new Dictionary<string, string>
        {
            ["device_id"] = DeviceId.ToString(CultureInfo.InvariantCulture),
            ["trt_fp16_enable"] = Fp16 ? "1" : "0",
        };
        if (EngineCachePath is not null)
        {
            values["trt_engine_cache_enable"] = "1";
            values["trt_engine_cache_path"] = EngineCachePath;
        }
        var api = environment.Api;
        ProviderOptions.Append<TensorRTProviderOptionsHandle>(api, sessionOptions,
            api.CreateTensorRTProviderOptions, api.UpdateTensorRTProviderOptions, api.SessionOptionsAppendExecutionProviderTensorRTV2, values);
    }
}

/// <summary>DirectML (Windows): appended through the DirectML build's exported entry point.</summary>
public sealed record DirectMLExecutionProvider(int DeviceId = 0) : ExecutionProvider
{
    public override string Name => "DirectML";
    public override string OrtName => "DmlExecutionProvider";

    internal override unsafe void AppendTo(OrtEnvironment environment, nint sessionOptions)
    {
        if (!OperatingSystem.IsWindows())
        {
            throw new OrtException(OrtErrorCode.NotImplemented, "DirectML runs on Windows only");
        }
        if (!NativeLibrary.TryGetExport(environment.LibraryHandle, "OrtSessionOptionsAppendExecutionProvider_DML", out var append))
        {
            throw new OrtException(OrtErrorCode.NotImplemented, "this ONNX Runtime build has no DirectML entry point");
        }
        // DirectML needs sequential execution without memory patterns.
        var api = environment.Api;
        api.Check(api.DisableMemPattern(sessionOptions));
        api.Check(api.SetSessionExecutionMode(sessionOptions, ExecutionMode.Sequential));
        api.Check(((delegate* unmanaged<nint, int, nint>)append)(sessionOptions, DeviceId));
    }
}

/// <summary>The V2 provider-options protocol ORT uses for CUDA and TensorRT: create, set key/values, append, release.</summary>
internal static unsafe class ProviderOptions
{
    public static void Append<THandle>(
        OrtApi api,
        nint sessionOptions,
        delegate* unmanaged<nint*, nint> create,
        delegate* unmanaged<nint, byte**, byte**, nuint, nint> update,
        delegate* unmanaged<nint, nint, nint> append,
        Dictionary<string, string> values)
        where THandle : OrtHandle, new()
    {
        using var options = new THandle();
        nint native;
        api.Check(create(&native));
        options.Adopt(native);
        using var strings = new Utf8Strings();
        var keys = strings.AddArray([.. values.Keys]);
        var vals = strings.AddArray([.. values.Values]);
        api.Check(update(native, keys, vals, (nuint)values.Count));
        api.Check(append(sessionOptions, native));
    }
}
