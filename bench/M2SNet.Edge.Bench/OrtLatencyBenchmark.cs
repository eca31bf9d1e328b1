using System.Text.Json.Serialization;
using M2SNet.Edge.Onnx;
using M2SNet.Edge.Inference;
using Microsoft.ML.OnnxRuntime;

namespace M2SNet.Edge.Bench;

/// <summary>
/// Session run latency of a ResNet-like segmentation network at 352x352 through the binding's
/// hot path (IO binding over pinned buffers), against a no-op model of the same input: the
/// no-op's time is what the binding and ORT's dispatch cost on their own.
/// </summary>
public static class OrtLatencyBenchmark
{
    public sealed record Report(
        [property: JsonPropertyName("benchmark")] string Benchmark,
        [property: JsonPropertyName("machine")] MachineInfo Machine,
        [property: JsonPropertyName("onnxruntime")] string OnnxRuntime,
        [property: JsonPropertyName("provider")] string Provider,
        [property: JsonPropertyName("intra_op_threads")] int Threads,
        [property: JsonPropertyName("input")] string Input,
        [property: JsonPropertyName("variants")] IReadOnlyDictionary<string, LatencyStats> Variants,
        [property: JsonPropertyName("model_to_noop_ratio")] double ModelToNoopRatio,
        [property: JsonPropertyName("binding_overhead_share")] double BindingOverheadShare);

    public const string Model = "resnet_like_352";
    public const string ModelAllocatingOutputs = "resnet_like_352_run_allocating";
    public const string Noop = "noop_352";

    public static Report Run(bool quick, int threads, Action<string> progress)
    {
        const int size = 352;
        var env = OrtEnvironment.Instance;
        var options = new SessionSettings { IntraOpNumThreads = threads };
        using var model = ProviderSession.Create(SampleModels.ResNetLike(size), options);
        using var noop = ProviderSession.Create(SampleModels.NoOp(1, 3, size, size), options);

        var image = new float[3 * size * size];
        for (var i = 0; i < image.Length; i++) image[i] = (i % 255) / 255f - 0.5f;
        using var input = OrtValue.CreateTensorValueFromMemory(image, [1, 3, size, size]);
        using var logits = OrtValue.CreateTensorValueFromMemory(new float[size * size], [1, 1, size, size]);
        using var shape = OrtValue.CreateTensorValueFromMemory(new long[4], [4]);
        using var modelBinding = model.CreateIoBinding();
        modelBinding.BindInput("image", input);
        modelBinding.BindOutput("logits", logits);
        using var noopBinding = noop.CreateIoBinding();
        noopBinding.BindInput("image", input);
        noopBinding.BindOutput("shape", shape);

        var variants = new Variant[]
        {
            new(Noop, () => noop.RunWithBinding(noopBinding)),
            new(Model, () => model.RunWithBinding(modelBinding)),
            new(ModelAllocatingOutputs, () => model.Run(ProviderSession.DefaultRun, ["image"], [input], ["logits"]).Dispose()),
        };
        var (warmup, iterations) = quick ? (3, 20) : (10, 200);
        var stats = Harness.MeasureInterleaved(variants, warmup, iterations, progress);

        var ratio = stats[Model].Median / stats[Noop].Median;
        return new Report("ort-latency", MachineInfo.Current(), env.Version, model.ExecutionProvider.Name, threads,
            $"[1, 3, {size}, {size}] float32", stats, ratio, stats[Noop].Median / stats[Model].Median);
    }
}
