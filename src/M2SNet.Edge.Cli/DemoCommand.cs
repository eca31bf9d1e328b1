using System.CommandLine;
using System.Diagnostics;
using M2SNet.Edge.Onnx;
using M2SNet.Edge.Inference;
using Microsoft.ML.OnnxRuntime;

namespace M2SNet.Edge.Cli;

/// <summary>
/// <c>m2s demo</c>: a sample inference run on this machine: a ResNet-like segmentation network
/// with random weights at 352x352 through ONNX Runtime, timed frame by frame.
/// </summary>
internal static class DemoCommand
{
    public static Command Create()
    {
        var frames = new Option<int>("--frames") { Description = "frames to run", DefaultValueFactory = _ => 30 };
        var size = new Option<int>("--size") { Description = "input size (square)", DefaultValueFactory = _ => 352 };
        var runtime = new RuntimeOptions();
        var command = new Command("demo", "Run a sample segmentation network through ONNX Runtime and print per-frame latency.") { frames, size };
        runtime.AddTo(command);
        command.SetAction(parse => CliErrors.Guard(() =>
        {
            var env = runtime.InitializeEnvironment(parse);
            var n = parse.GetValue(frames);
            var s = parse.GetValue(size);
            if (n < 1) throw new CliException("--frames must be at least 1");
            if (s < 32 || s % 32 != 0) throw new CliException("--size must be a positive multiple of 32");

            Console.WriteLine($"ONNX Runtime {env.Version}; building a ResNet-like sample network at {s}x{s}");
            using var session = ProviderSession.Create(SampleModels.ResNetLike(size: s), runtime.SessionSettings(parse));
            Console.WriteLine($"Execution provider: {session.ExecutionProvider.Name}");

            var image = new float[3 * s * s];
            var mask = new float[s * s];
            using var input = OrtValue.CreateTensorValueFromMemory(image, [1, 3, s, s]);
            using var output = OrtValue.CreateTensorValueFromMemory(mask, [1, 1, s, s]);
            using var binding = session.CreateIoBinding();
            binding.BindInput("image", input);
            binding.BindOutput("logits", output);

            var rng = new Random(42);
            var times = new double[n];
            var sw = new Stopwatch();
            for (var f = 0; f < n; f++)
            {
                for (var i = 0; i < image.Length; i++) image[i] = (float)(rng.NextDouble() * 2 - 1);
                sw.Restart();
                session.RunWithBinding(binding);
                times[f] = sw.Elapsed.TotalMilliseconds;
                if (f < 3 || f == n - 1) Console.WriteLine($"  frame {f,4}: {times[f],7:F1} ms");
                else if (f == 3) Console.WriteLine("  ...");
            }
            var steady = times.Skip(Math.Min(1, n - 1)).Order().ToArray();
            Console.WriteLine($"Latency after the first frame: median {steady[steady.Length / 2]:F1} ms, " +
                $"p95 {steady[(int)Math.Ceiling(0.95 * steady.Length) - 1]:F1} ms, {1000 / steady[steady.Length / 2]:F1} frames/s");
            return 0;
        }));
        return command;
    }
}
