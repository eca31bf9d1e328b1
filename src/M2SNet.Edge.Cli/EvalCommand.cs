using System.CommandLine;
using System.Globalization;
using M2SNet.Edge.Models;
using M2SNet.Edge.Onnx;
using M2SNet.Edge.Training.Data;
using M2SNet.Edge.Training.Evaluation;
using Spectre.Console;

namespace M2SNet.Edge.Cli;

/// <summary><c>m2s eval</c>: score a model on datasets, or saved prediction maps against masks.</summary>
internal static class EvalCommand
{
    public static Command Create()
    {
        var model = new Option<string?>("--model") { Description = $"network with --checkpoint: {string.Join(", ", ModelRegistry.Names)}" };
        var checkpoint = new Option<FileInfo?>("--checkpoint") { Description = "weights for --model (.pth)" };
        var onnx = new Option<FileInfo?>("--onnx") { Description = "an exported model (its manifest .json beside it): what the appliance runs" };
        var data = new Option<DirectoryInfo?>("--data") { Description = "datasets to evaluate (Kvasir-SEG or the authors' layout, or a folder of datasets)" };
        var size = new Option<int?>("--size") { Description = "inference size (default: the model's)" };
        var pred = new Option<DirectoryInfo?>("--pred") { Description = "folder of saved prediction maps (8-bit images), scored against --gt" };
        var gt = new Option<DirectoryInfo?>("--gt") { Description = "folder of masks for --pred, paired by file stem" };
        var output = new Option<DirectoryInfo?>("--out") { Description = "folder for metrics.json, metrics.csv and worst_<dataset>.png" };
        var worst = new Option<int>("--worst") { Description = "worst cases (by Dice) to picture per dataset", DefaultValueFactory = _ => 6 };
        var runtime = new RuntimeOptions();
        var command = new Command("eval", "Score a model (checkpoint or exported ONNX) on datasets, or saved prediction maps against masks: mDice, mIoU, wFm, Sm, Em, MAE, F, HD95, ASD.")
        {
            model, checkpoint, onnx, data, size, pred, gt, output, worst,
        };
        command.Options.Add(runtime.OrtLibrary);
        command.SetAction(parse => CliErrors.Guard(() =>
        {
            var outDir = parse.GetValue(output)?.FullName;
            EvaluationReport report;
            if (parse.GetValue(pred) is { } predictions)
            {
                var masks = parse.GetValue(gt) ?? throw new CliException("--pred needs --gt (the folder of masks)");
                report = Evaluator.ScoreFolders(predictions.FullName, masks.FullName, outDir, parse.GetValue(worst));
            }
            else
            {
                var datasets = DatasetLayout.Discover((parse.GetValue(data) ?? throw new CliException("give --data (with --model/--checkpoint or --onnx), or --pred with --gt")).FullName);
                using var predictor = CreatePredictor(parse, model, checkpoint, onnx, size, runtime);
                Console.WriteLine($"evaluating {predictor.Description}");
                var lastReport = DateTime.MinValue;
                report = Evaluator.Run(predictor, datasets, outDir, parse.GetValue(worst), new SyncProgress<(string Dataset, int Done, int Total)>(p =>
                {
                    if ((DateTime.UtcNow - lastReport).TotalSeconds < 5 && p.Done != p.Total) return;
                    lastReport = DateTime.UtcNow;
                    Console.Error.WriteLine($"  {p.Dataset}: {p.Done}/{p.Total}");
                }));
            }
            PrintTable(report);
            foreach (var note in report.Notes) Console.WriteLine($"note: {note}");
            if (report.JsonPath is not null) Console.WriteLine($"wrote {report.JsonPath}, {report.CsvPath} and {string.Join(", ", report.WorstCaseImages.Select(Path.GetFileName))}");
            return 0;
        }));
        return command;
    }

    private static IPredictor CreatePredictor(ParseResult parse, Option<string?> model, Option<FileInfo?> checkpoint, Option<FileInfo?> onnx,
        Option<int?> size, RuntimeOptions runtime)
    {
        var s = parse.GetValue(size);
        if (s is { } v && (v < 32 || v % 32 != 0)) throw new CliException($"--size must be a positive multiple of 32, not {v}");
        if (parse.GetValue(onnx) is { } file)
        {
            if (!file.Exists) throw new CliException($"model not found: {file.FullName}");
            var manifestPath = ModelManifest.PathFor(file.FullName);
            if (!File.Exists(manifestPath)) throw new CliException($"{file.Name} has no manifest {Path.GetFileName(manifestPath)} beside it");
            runtime.InitializeEnvironment(parse);
            return new OnnxPredictor(file.FullName, ModelManifest.FromJson(File.ReadAllText(manifestPath)), s);
        }
        var name = parse.GetValue(model) ?? throw new CliException("give --model with --checkpoint, or --onnx");
        var weights = parse.GetValue(checkpoint) ?? throw new CliException("--model needs --checkpoint");
        if (!weights.Exists) throw new CliException($"checkpoint not found: {weights.FullName}");
        var spec = ModelRegistry.Get(name);
        return new TorchPredictor(spec, weights.FullName, s ?? spec.InputSize);
    }

    /// <summary>One row per metric, one column per dataset: fits a terminal whatever the number of metrics.</summary>
    private static void PrintTable(EvaluationReport report)
    {
        var table = new Table().Border(TableBorder.Rounded);
        table.AddColumn("metric");
        foreach (var d in report.Datasets) table.AddColumn(new TableColumn($"{Markup.Escape(d.Dataset)} ({d.Images})").RightAligned());
        var names = report.Datasets[0].Values.Select(v => v.Name).ToList();
        for (var i = 0; i < names.Count; i++)
        {
            var cells = new List<string> { names[i] };
            foreach (var d in report.Datasets)
            {
                var v = d.Values[i].Value;
                cells.Add(double.IsNaN(v) ? "NaN" : v.ToString(names[i] is "HD95" or "ASD" ? "F2" : "F4", CultureInfo.InvariantCulture));
            }
            table.AddRow(cells.ToArray());
        }
        AnsiConsole.Write(table);
    }
}
