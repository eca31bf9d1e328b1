using System.CommandLine;
using System.Diagnostics;
using M2SNet.Edge.Inference;
using Microsoft.ML.OnnxRuntime;

namespace M2SNet.Edge.Cli;

/// <summary><c>m2s ort-check MODEL</c>: load a model, show its inputs, outputs and provider, run it once on zeros.</summary>
internal static class OrtCheckCommand
{
    public static Command Create()
    {
        var model = new Argument<FileInfo>("model") { Description = "ONNX model file" };
        var runs = new Option<int>("--runs") { Description = "runs after the first, for a median", DefaultValueFactory = _ => 0 };
        var dims = new Option<string[]>("--dim")
        {
            Description = "value of a symbolic dimension, name=value (others are 1)",
            AllowMultipleArgumentsPerToken = true,
        };
        var runtime = new RuntimeOptions();
        var command = new Command("ort-check", "Load an ONNX model with ONNX Runtime, print its inputs, outputs and provider, and time a run on zeros.")
        {
            model, runs, dims,
        };
        runtime.AddTo(command);
        command.SetAction(parse => CliErrors.Guard(() =>
        {
            var env = runtime.InitializeEnvironment(parse);
            var path = parse.GetValue(model)!;
            if (!path.Exists) throw new CliException($"model file not found: {path.FullName}");
            var symbolic = ParseDims(parse.GetValue(dims) ?? []);

            Console.WriteLine($"ONNX Runtime {env.Version} ({OrtEnvironment.Flavor} package) from {env.LibraryPath}");
            Console.WriteLine($"  providers in this build: {string.Join(", ", env.AvailableProviders)}");
            using var session = ProviderSession.Create(path.FullName, runtime.SessionSettings(parse));
            Console.WriteLine($"Model {path.Name} ({path.Length / 1024.0 / 1024.0:F1} MiB)");
            foreach (var (name, i) in session.InputMetadata) Console.WriteLine($"  input  {Describe(name, i)}");
            foreach (var (name, o) in session.OutputMetadata) Console.WriteLine($"  output {Describe(name, o)}");
            Console.WriteLine($"Execution provider: {session.ExecutionProvider.Name}");
            foreach (var f in session.ProviderFailures) Console.WriteLine($"  skipped {f.Provider.Name}: {f.Reason}");

            var inputs = session.InputMetadata.Select(m => ZeroTensor(m.Key, m.Value, symbolic)).ToList();
            try
            {
                var names = session.InputNames;
                var sw = Stopwatch.StartNew();
                session.Run(ProviderSession.DefaultRun, names, inputs, session.OutputNames).Dispose();
                Console.WriteLine($"First run on zeros: {sw.Elapsed.TotalMilliseconds:F1} ms");
                var count = parse.GetValue(runs);
                if (count > 0)
                {
                    var times = new double[count];
                    for (var r = 0; r < count; r++)
                    {
                        sw.Restart();
                        session.Run(ProviderSession.DefaultRun, names, inputs, session.OutputNames).Dispose();
                        times[r] = sw.Elapsed.TotalMilliseconds;
                    }
                    Array.Sort(times);
                    Console.WriteLine($"Median of {count} more runs: {times[count / 2]:F1} ms (min {times[0]:F1}, max {times[^1]:F1})");
                }
            }
            finally
            {
                foreach (var v in inputs) v.Dispose();
            }
            return 0;
        }));
        return command;
    }

    private static Dictionary<string, long> ParseDims(string[] values)
    {
        var result = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var v in values)
        {
            var parts = v.Split('=', 2);
            if (parts.Length != 2 || !long.TryParse(parts[1], out var n) || n <= 0)
            {
                throw new CliException($"--dim expects name=positive-integer, got '{v}'");
            }
            result[parts[0]] = n;
        }
        return result;
    }

    private static string Describe(string name, NodeMetadata node) => node.IsTensor
        ? $"{name}: {node.ElementDataType} [{string.Join(", ", node.Dimensions.Select((d, i) => d >= 0 ? d.ToString(System.Globalization.CultureInfo.InvariantCulture) : node.SymbolicDimensions[i] is { Length: > 0 } s ? s : "?"))}]"
        : $"{name}: {node.OnnxValueType}";

    private static OrtValue ZeroTensor(string name, NodeMetadata input, Dictionary<string, long> symbolic)
    {
        if (!input.IsTensor) throw new CliException($"input '{name}' is a {input.OnnxValueType}, not a tensor; ort-check feeds tensors only");
        var shape = input.Dimensions.Select((d, i) => d >= 0 ? d : symbolic.GetValueOrDefault(input.SymbolicDimensions[i], 1)).ToArray();
        var value = OrtValue.CreateAllocatedTensorValue(OrtAllocator.DefaultInstance, input.ElementDataType, shape);
        // ORT does not zero what it allocates.
        value.GetTensorMutableRawData().Clear();
        return value;
    }
}
