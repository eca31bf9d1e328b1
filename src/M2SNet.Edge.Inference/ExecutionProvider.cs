using System.Globalization;
using Microsoft.ML.OnnxRuntime;

namespace M2SNet.Edge.Inference;

/// <summary>
/// A hardware back-end ORT can run a session on. Sessions take a preference list and use the
/// first provider that loads and accepts the model (<see cref="ProviderSession.Create(string, SessionSettings)"/>).
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

    /// <summary>Adds this provider to the session options; ORT throws if it cannot.</summary>
    internal abstract void AppendTo(SessionOptions options);

    public override string ToString() => Name;
}

public sealed record CpuExecutionProvider : ExecutionProvider
{
    public override string Name => "CPU";
    public override string OrtName => "CPUExecutionProvider";

    // The CPU provider is always there and needs no registration.
    internal override void AppendTo(SessionOptions options)
    {
    }
}

/// <param name="DeviceId">GPU ordinal.</param>
/// <param name="Options">Further CUDA provider options by ORT's names (e.g. "cudnn_conv_algo_search", "gpu_mem_limit").</param>
public sealed record CudaExecutionProvider(int DeviceId = 0, IReadOnlyDictionary<string, string>? Options = null) : ExecutionProvider
{
    public override string Name => "CUDA";
    public override string OrtName => "CUDAExecutionProvider";

    internal override void AppendTo(SessionOptions options)
    {
        using var cuda = new OrtCUDAProviderOptions();
        cuda.UpdateOptions(Values(DeviceId, Options));
        options.AppendExecutionProvider_CUDA(cuda);
    }

    internal static Dictionary<string, string> Values(int deviceId, IReadOnlyDictionary<string, string>? more)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal) { ["device_id"] = deviceId.ToString(CultureInfo.InvariantCulture) };
        foreach (var (key, value) in more ?? new Dictionary<string, string>()) values[key] = value;
        return values;
    }
}

/// <param name="DeviceId">GPU ordinal.</param>
/// <param name="Fp16">Let TensorRT build fp16 kernels.</param>
/// <param name="EngineCachePath">Folder for built engines, so a restart does not rebuild them (minutes on a large model).</param>
/// <param name="Options">Further TensorRT provider options by ORT's names (e.g. "trt_max_workspace_size").</param>
public sealed record TensorRTExecutionProvider(int DeviceId = 0, bool Fp16 = false, string? EngineCachePath = null,
    IReadOnlyDictionary<string, string>? Options = null) : ExecutionProvider
{
    public override string Name => "TensorRT";
    public override string OrtName => "TensorrtExecutionProvider";

    internal override void AppendTo(SessionOptions options)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["device_id"] = DeviceId.ToString(CultureInfo.InvariantCulture),
            ["trt_fp16_enable"] = Fp16 ? "1" : "0",
        };
        if (EngineCachePath is not null)
        {
            Directory.CreateDirectory(EngineCachePath);
            values["trt_engine_cache_enable"] = "1";
            values["trt_engine_cache_path"] = EngineCachePath;
            values["trt_timing_cache_enable"] = "1";
            values["trt_timing_cache_path"] = EngineCachePath;
        }
        foreach (var (key, value) in Options ?? new Dictionary<string, string>()) values[key] = value;
        using var trt = new OrtTensorRTProviderOptions();
        trt.UpdateOptions(values);
        options.AppendExecutionProvider_Tensorrt(trt);
        // Nodes TensorRT does not take run on CUDA rather than on the CPU.
        using var cuda = new OrtCUDAProviderOptions();
        cuda.UpdateOptions(CudaExecutionProvider.Values(DeviceId, null));
        options.AppendExecutionProvider_CUDA(cuda);
    }
}

/// <summary>DirectML (Windows, with a DirectML build of ORT loaded by path).</summary>
public sealed record DirectMLExecutionProvider(int DeviceId = 0) : ExecutionProvider
{
    public override string Name => "DirectML";
    public override string OrtName => "DmlExecutionProvider";

    internal override void AppendTo(SessionOptions options)
    {
        if (!OperatingSystem.IsWindows()) throw new PlatformNotSupportedException("DirectML runs on Windows only");
        // DirectML needs sequential execution without memory patterns.
        options.EnableMemoryPattern = false;
        options.ExecutionMode = ExecutionMode.ORT_SEQUENTIAL;
        try
        {
            options.AppendExecutionProvider_DML(DeviceId);
        }
        catch (EntryPointNotFoundException)
        {
            throw new NotSupportedException("this ONNX Runtime build has no DirectML entry point; load a DirectML build with --ort-library or M2S_ORT_LIBRARY");
        }
    }
}
