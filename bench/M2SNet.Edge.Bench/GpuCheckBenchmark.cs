using System.Diagnostics;
using System.Text.Json.Serialization;
using M2SNet.Edge.Inference;
using Microsoft.ML.OnnxRuntime;

namespace M2SNet.Edge.Bench;

/// <summary>One row of the GPU table: a provider, a precision and a batch, or why it could not run.</summary>
public sealed record GpuRow(
    [property: JsonPropertyName("provider")] string Provider,
    [property: JsonPropertyName("precision")] string Precision,
    [property: JsonPropertyName("batch")] int Batch,
    [property: JsonPropertyName("frames_per_second")] double? FramesPerSecond,
    [property: JsonPropertyName("p99_ms")] double? P99,
    [property: JsonPropertyName("to_cpu_fp32_batch_1")] double? ToCpu,
    [property: JsonPropertyName("not_run")] string? NotRun);

public sealed record GpuCheckReport(
    [property: JsonPropertyName("machine")] MachineInfo Machine,
    [property: JsonPropertyName("gpu")] string Gpu,
    [property: JsonPropertyName("onnxruntime")] string OnnxRuntime,
    [property: JsonPropertyName("model")] string Model,
    [property: JsonPropertyName("size")] int Size,
    [property: JsonPropertyName("rows")] IReadOnlyList<GpuRow> Rows,
    [property: JsonPropertyName("capture_to_mask_1080p60")] string CaptureToMask);

/// <summary>
/// M2SNet at 352 on TensorRT and CUDA, fp32 and fp16, batch 1 and 8: frames per second and p99 of
/// one run, against CPU fp32 batch 1 measured in the same run. Every session is made with one
/// provider only, so a row never runs on a fallback; a provider that cannot load says why.
/// </summary>
public static class GpuCheckBenchmark
{
    public const int Size = 352;

    public static GpuCheckReport Run(string modelPath, bool quick, string engineCache, Action<string> progress)
    {
        var env = OrtEnvironment.Instance;
        var (warmup, iterations) = quick ? (3, 20) : (20, 300);
        var rows = new List<GpuRow>();
        var cpu = Measure("CPU", "fp32", 1, ExecutionProvider.Cpu);
        rows.Add(cpu);
        foreach (var precision in new[] { "fp32", "fp16" })
        {
            foreach (var batch in new[] { 1, 8 })
            {
                rows.Add(Measure("TensorRT", precision, batch, new TensorRTExecutionProvider(Fp16: precision == "fp16",
                    EngineCachePath: Path.Combine(engineCache, precision))));
                rows.Add(precision == "fp16"
                    ? new GpuRow("CUDA", precision, batch, null, null, null, "the CUDA provider has no fp16 switch (TensorRT's is the fp16 path)")
                    : Measure("CUDA", precision, batch, new CudaExecutionProvider()));
            }
        }
        return new GpuCheckReport(MachineInfo.Current(), GpuName(), $"{env.Version} ({OrtEnvironment.Flavor})", Path.GetFileName(modelPath), Size,
            [.. rows.Select(r => r.FramesPerSecond is { } f && cpu.FramesPerSecond is { } c ? r with { ToCpu = f / c } : r)], "");

        GpuRow Measure(string provider, string precision, int batch, ExecutionProvider ep)
        {
            progress($"{provider} {precision} batch {batch}");
            ProviderSession session;
            try
            {
                session = ProviderSession.Create(modelPath, new SessionSettings { ExecutionProviders = [ep] });
            }
            catch (ExecutionProviderException e)
            {
                return new GpuRow(provider, precision, batch, null, null, null, e.Message.Replace("none of the execution providers could run the model: ", "", StringComparison.Ordinal));
            }
            using (session)
            {
                var input = new float[batch * 3 * Size * Size];
                for (var i = 0; i < input.Length; i++) input[i] = (i % 251) / 251f - 0.5f;
                var output = new float[batch * Size * Size];
                using var x = OrtValue.CreateTensorValueFromMemory(input, [batch, 3, Size, Size]);
                using var y = OrtValue.CreateTensorValueFromMemory(output, [batch, 1, Size, Size]);
                using var binding = session.CreateIoBinding();
                binding.BindInput(session.InputNames[0], x);
                binding.BindOutput(session.OutputNames[0], y);
                // The first runs build TensorRT's engine (or load it from the cache).
                for (var i = 0; i < warmup; i++) session.RunWithBinding(binding);
                var times = new List<double>(iterations);
                var sw = new Stopwatch();
                for (var i = 0; i < iterations; i++)
                {
                    sw.Restart();
                    session.RunWithBinding(binding);
                    times.Add(sw.Elapsed.TotalMilliseconds);
                }
                var stats = LatencyStats.From(times);
                return new GpuRow(provider, precision, batch, batch * 1000.0 / times.Average(), stats.P99, null, null);
            }
        }
    }

    /// <summary>The GPU's name from nvidia-smi, or why there is none.</summary>
    public static string GpuName()
    {
        try
        {
            using var smi = Process.Start(new ProcessStartInfo("nvidia-smi", "--query-gpu=name,driver_version --format=csv,noheader")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            })!;
            var text = smi.StandardOutput.ReadToEnd().Trim();
            smi.WaitForExit();
            return smi.ExitCode == 0 && text.Length > 0 ? text : "no NVIDIA GPU (nvidia-smi failed)";
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return "no NVIDIA GPU (nvidia-smi not found)";
        }
    }
}
