using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using M2SNet.Edge.Quantization;

namespace M2SNet.Edge.Cli;

/// <summary><c>m2s quantize</c>: an exported float32 model to int8 (or float16), guarded by an accuracy check.</summary>
internal static class QuantizeCommand
{
    public static Command Create()
    {
        var onnx = new Option<FileInfo>("--onnx") { Description = "the float32 model (its manifest .json beside it)", Required = true };
        var output = new Option<FileInfo>("--out") { Description = "the .onnx file to write (the manifest goes beside it as .json)", Required = true };
        var int8 = new Option<bool>("--int8") { Description = "int8 (QDQ) for CPU integer kernels (the default)" };
        var fp16 = new Option<bool>("--fp16") { Description = "float16 weights and activations, for GPU providers (the same accuracy check)" };
        var options = new ReductionOptions();
        var runtime = new RuntimeOptions();
        var command = new Command("quantize",
            "Reduce an exported float32 model to int8 (static post-training quantization, calibrated on frames) or float16; " +
            "refuses to write it when mDice on held-out frames falls more than --max-drop below float32.")
        {
            onnx, output, int8, fp16,
        };
        options.AddTo(command);
        command.Options.Add(runtime.OrtLibrary);
        command.SetAction(parse => CliErrors.Guard(() =>
        {
            var input = parse.GetValue(onnx)!;
            if (!input.Exists) throw new CliException($"model not found: {input.FullName}");
            if (parse.GetValue(int8) && parse.GetValue(fp16)) throw new CliException("give --int8 or --fp16, not both");
            var request = options.Request(parse, input.FullName, parse.GetValue(output)!.FullName,
                parse.GetValue(fp16) ? TargetPrecision.Float16 : TargetPrecision.Int8);
            runtime.InitializeEnvironment(parse);
            return ReductionOptions.Run(request, Stopwatch.StartNew());
        }));
        return command;
    }
}

/// <summary>The options <c>m2s quantize</c> and <c>m2s export --int8/--fp16</c> share, and the run and report.</summary>
internal sealed class ReductionOptions
{
    public Option<DirectoryInfo?> Calibration { get; } = new("--calibration")
    {
        Description = "frames to calibrate on: a folder of images, or a dataset (images/ + masks/); held-out frames come from it unless --val",
    };

    public Option<int> Frames { get; } = new("--frames") { Description = "at most this many frames from --calibration (and --val)", DefaultValueFactory = _ => 64 };

    public Option<DirectoryInfo?> Validation { get; } = new("--val") { Description = "held-out frames for the accuracy check (default: every 4th calibration frame)" };

    public Option<double> MaxDrop { get; } = new("--max-drop") { Description = "largest mDice drop against float32 allowed", DefaultValueFactory = _ => 0.01 };

    public Option<string?> Method { get; } = new("--method") { Description = "activation ranges: minmax, percentile-99.99 or percentile-99.999 (default: each, the best kept)" };

    public Option<bool> Force { get; } = new("--force") { Description = "write the model even when the accuracy check fails (recorded in the manifest)" };

    public void AddTo(Command command)
    {
        command.Options.Add(Calibration);
        command.Options.Add(Frames);
        command.Options.Add(Validation);
        command.Options.Add(MaxDrop);
        command.Options.Add(Method);
        command.Options.Add(Force);
    }

    /// <summary>Checks the options before any long work: a mistake is reported before an export, not after.</summary>
    public QuantizeRequest Request(ParseResult parse, string input, string output, TargetPrecision precision)
    {
        var calibration = parse.GetValue(Calibration);
        var validation = parse.GetValue(Validation);
        if (precision == TargetPrecision.Int8 && calibration is null) throw new CliException("int8 needs --calibration DIR (frames to calibrate on)");
        if (calibration is null && validation is null) throw new CliException("float16 needs frames to check accuracy on: --calibration DIR or --val DIR");
        foreach (var dir in new[] { calibration, validation }.OfType<DirectoryInfo>())
        {
            if (!dir.Exists) throw new CliException($"frame folder not found: {dir.FullName}");
        }
        var frames = parse.GetValue(Frames);
        if (frames < 2) throw new CliException($"--frames must be at least 2, not {frames}");
        var method = parse.GetValue(Method) is { } name ? PostTrainingQuantizer.ParseMethod(name) : (RangeMethod?)null;
        return new QuantizeRequest(input, output, (calibration ?? validation)!.FullName, precision, frames,
            calibration is null ? null : validation?.FullName, parse.GetValue(Force), parse.GetValue(MaxDrop), method);
    }

    /// <summary>Runs the reduction and prints the check; 0 written, 1 refused.</summary>
    public static int Run(QuantizeRequest request, Stopwatch clock)
    {
        var lastFrame = TimeSpan.FromSeconds(-60);
        void Step(string what)
        {
            var counts = what.Split(' ')[^1].Split('/');
            if (what.StartsWith("calibration pass", StringComparison.Ordinal) && !(counts.Length == 2 && counts[0] == counts[1]))
            {
                if (clock.Elapsed - lastFrame < TimeSpan.FromSeconds(3)) return;
                lastFrame = clock.Elapsed;
            }
            Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"[{clock.Elapsed.TotalSeconds,6:F1}s] {what}"));
        }
        var result = PostTrainingQuantizer.Run(request, new SyncProgress<string>(Step));
        var a = result.Accuracy;
        foreach (var group in result.FloatLayers.GroupBy(l => l.Reason))
        {
            var names = group.Select(l => l.Node).ToList();
            Console.WriteLine($"float: {names.Count} {group.First().OpType}{(names.Count == 1 ? "" : "s")} ({string.Join(", ", names.Take(4))}{(names.Count > 4 ? ", ..." : "")}): {group.Key}");
        }
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"accuracy: {a.Metric} {a.Reduced:F4} against float32 {a.Float32:F4} on {a.Frames} held-out frames ({a.Reference}): drop {a.Drop:F4}, limit {a.MaxDrop:F4}: {(a.Passed ? "PASS" : a.Forced ? "FAIL (forced)" : "FAIL")}"));
        if (!result.Written)
        {
            Console.Error.WriteLine($"m2s: error: {result.Refusal}");
            return 1;
        }
        var m = result.Manifest!;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"wrote {result.OnnxPath} ({result.Bytes / 1048576.0:F1} MiB, {m.Precision}{(m.Precision == "int8" ? $", {m.Quantization!.Method} ranges, {result.QuantizedLayers} convolutions in int8, {result.FloatLayers.Count} float" : "")}) and {Path.GetFileName(Onnx.ModelManifest.PathFor(result.OnnxPath))}, model id {m.ModelId}"));
        return 0;
    }
}
