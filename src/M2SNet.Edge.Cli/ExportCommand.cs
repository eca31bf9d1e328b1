using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using M2SNet.Edge.Export;
using M2SNet.Edge.Models;
using M2SNet.Edge.Models.Networks;
using M2SNet.Edge.Onnx;
using M2SNet.Edge.Quantization;
using M2SNet.Edge.Training;
using static M2SNet.Edge.Torch.torch;

namespace M2SNet.Edge.Cli;

/// <summary><c>m2s export</c>: a network of the zoo with its weights to a verified ONNX file and manifest.</summary>
internal static class ExportCommand
{
    /// <summary>A folder that is removed with everything in it when disposed.</summary>
    private sealed class TemporaryFolder : IDisposable
    {
        public string Path { get; } = Directory.CreateTempSubdirectory("m2s-export-").FullName;

        public void Dispose() => Directory.Delete(Path, recursive: true);
    }

    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = $"network: {string.Join(", ", ModelRegistry.Names)}", Required = true };
        var checkpoint = new Option<FileInfo?>("--checkpoint") { Description = "weights (.pth): the authors' release, a training checkpoint of m2s train, or an ImageNet backbone" };
        var randomInit = new Option<bool>("--random-init") { Description = "export untrained weights (for latency tests only)" };
        var output = new Option<FileInfo>("--out") { Description = "the .onnx file to write (the manifest goes beside it as .json)", Required = true };
        var size = new Option<int>("--size") { Description = "nominal input size, a multiple of 32", DefaultValueFactory = _ => 352 };
        var fp16Weights = new Option<bool>("--fp16-weights") { Description = "store the weights as float16 (half the file; computed in float32)" };
        var int8 = new Option<bool>("--int8") { Description = "quantize to int8 for CPU integer kernels (needs --calibration; refused when mDice drops too far)" };
        var fp16 = new Option<bool>("--fp16") { Description = "float16 weights and activations for GPU providers (needs --calibration or --val; the same check)" };
        var reduction = new ReductionOptions();
        var naive = new Option<bool>("--naive") { Description = "write the fixed all-ones convolutions as plain Conv nodes (the authors' graph), for comparison" };
        var sigmoid = new Option<bool>("--sigmoid") { Description = "end the graph with a sigmoid: output probabilities instead of logits" };
        var version = new Option<string>("--model-version") { Description = "version recorded in the manifest", DefaultValueFactory = _ => "1.0.0" };
        var runtime = new RuntimeOptions();
        var command = new Command("export", "Export a network to ONNX, verify it against libtorch with ONNX Runtime, and write its manifest.")
        {
            model, checkpoint, randomInit, output, size, fp16Weights, int8, fp16, naive, sigmoid, version,
        };
        reduction.AddTo(command);
        command.Options.Add(runtime.OrtLibrary);
        command.SetAction(parse => CliErrors.Guard(() =>
        {
            var spec = ModelRegistry.Get(parse.GetValue(model)!);
            var s = parse.GetValue(size);
            if (s < 32 || s % 32 != 0) throw new CliException($"--size must be a positive multiple of 32, not {s}");
            var weights = parse.GetValue(checkpoint);
            if (weights is null && !parse.GetValue(randomInit)) throw new CliException("give --checkpoint FILE (or --random-init for an untrained network)");
            if (weights is not null && !weights.Exists) throw new CliException($"checkpoint not found: {weights.FullName}");
            if (parse.GetValue(int8) && parse.GetValue(fp16)) throw new CliException("give --int8 or --fp16, not both");
            TargetPrecision? reduce = parse.GetValue(int8) ? TargetPrecision.Int8 : parse.GetValue(fp16) ? TargetPrecision.Float16 : null;
            var outPath = parse.GetValue(output)!.FullName;
            using var floatDir = reduce is null ? null : new TemporaryFolder();
            var floatPath = floatDir is null ? outPath : Path.Combine(floatDir.Path, Path.GetFileNameWithoutExtension(outPath) + "-float32.onnx");
            var reduceRequest = reduce is { } precision ? reduction.Request(parse, floatPath, outPath, precision) : null;
            runtime.InitializeEnvironment(parse);

            var clock = Stopwatch.StartNew();
            void Step(string what) => Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"[{clock.Elapsed.TotalSeconds,6:F1}s] {what}"));
            Step($"creating {spec.Name}");
            using var network = (nn.Module)spec.Create();
            TrainingMeta? meta = null;
            if (weights is not null)
            {
                Step($"loading {weights.Name}");
                var checkpointFile = TrainingCheckpoint.Read(weights.FullName);
                meta = checkpointFile.Meta;
                var kind = Checkpoint.LoadNetwork((ISegmentationNetwork)network, checkpointFile.Model);
                if (kind == CheckpointKind.Backbone) Step("note: the checkpoint holds only an ImageNet backbone; the decoder is untrained");
            }
            var request = new ExportRequest(spec.Name, floatPath, s,
                parse.GetValue(naive) ? GraphForm.Naive : GraphForm.Optimised, parse.GetValue(fp16Weights), parse.GetValue(sigmoid),
                parse.GetValue(version)!,
                Training: meta is null ? null : new ModelManifest.TrainingSummary(meta.Data, meta.Images, meta.Epochs, meta.Notes),
                Validation: meta?.Validation.Count > 0 ? meta.Validation : null);
            var result = OnnxExporter.Export((ISegmentationNetwork)network, request, new SyncProgress<string>(Step));
            Step($"wrote {result.OnnxPath} ({result.Bytes / 1048576.0:F1} MiB, {result.Nodes} nodes) and {Path.GetFileName(result.ManifestPath)}");
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"parity: max |ONNX - libtorch| = {result.MaxAbsDiff:E2} in {result.ComparedIn} (tolerance {result.Tolerance:E2}, output absmax {result.OutputAbsMax:G4}): PASS, model id {result.Manifest.ModelId}"));
            if (reduceRequest is null) return 0;
            Step($"reducing to {(reduce == TargetPrecision.Int8 ? "int8" : "float16")}");
            return ReductionOptions.Run(reduceRequest, clock);
        }));
        return command;
    }
}
