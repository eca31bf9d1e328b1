using System.CommandLine;
using System.Globalization;
using M2SNet.Edge.Models;
using M2SNet.Edge.Models.Losses;
using M2SNet.Edge.Torch;
using M2SNet.Edge.Torch.Distributed;
using M2SNet.Edge.Training;
using M2SNet.Edge.Training.Data;
using Spectre.Console;

namespace M2SNet.Edge.Cli;

/// <summary><c>m2s train</c>: the papers' training recipe on image/mask folders.</summary>
internal static class TrainCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = $"network: {string.Join(", ", ModelRegistry.Names)}", DefaultValueFactory = _ => "m2snet" };
        var data = new Option<DirectoryInfo>("--data") { Description = "training data: images/+masks/ (Kvasir-SEG), image/+mask/ (the authors' layout), or a folder of those", Required = true };
        var validation = new Option<DirectoryInfo?>("--val") { Description = "held-out validation data (default: --val-fraction of --data)" };
        var fraction = new Option<double>("--val-fraction") { Description = "share of --data held out when --val is not given", DefaultValueFactory = _ => 0.1 };
        var task = new Option<string>("--task") { Description = "epoch preset: polyp (50), lung (200), breast (100), oct (100)", DefaultValueFactory = _ => "polyp" };
        var epochs = new Option<int?>("--epochs") { Description = "epochs (overrides --task)" };
        var batch = new Option<int>("--batch-size") { Description = "images per batch", DefaultValueFactory = _ => 16 };
        var size = new Option<int>("--size") { Description = "training size, a multiple of 32", DefaultValueFactory = _ => 352 };
        var rates = new Option<string>("--rates") { Description = "multi-scale rates, comma-separated", DefaultValueFactory = _ => "0.75,1,1.25" };
        var lr = new Option<double>("--lr") { Description = "peak learning rate of the decoder", DefaultValueFactory = _ => 0.05 };
        var backboneLr = new Option<double>("--backbone-lr") { Description = "peak learning rate of the backbone", DefaultValueFactory = _ => 0.005 };
        var loss = new Option<string>("--loss") { Description = "structure loss: weighted (BCE weighted by the boundary weight) or reference (as the authors' code runs)", DefaultValueFactory = _ => "weighted" };
        var lossNet = new Option<FileInfo?>("--lossnet-weights") { Description = "torchvision VGG16 .pth for LossNet (without it LossNet is off)" };
        var backbone = new Option<FileInfo?>("--backbone-weights") { Description = "ImageNet Res2Net-50 .pth (without it the backbone trains from scratch)" };
        var resume = new Option<FileInfo?>("--resume") { Description = "continue from a checkpoint (last.pth of an earlier run, or m2s import's output)" };
        var seed = new Option<int>("--seed") { Description = "seed for initialisation, shuffling, augmentation and the validation split", DefaultValueFactory = _ => 1 };
        var skipBad = new Option<bool>("--skip-bad") { Description = "leave out unpaired, unreadable or mismatched files instead of stopping" };
        var threads = new Option<int>("--threads") { Description = "libtorch threads (0: all cores)", DefaultValueFactory = _ => 0 };
        var device = new Option<string>("--device") { Description = "cpu, cuda or cuda:N", DefaultValueFactory = _ => "cpu" };
        var output = new Option<DirectoryInfo>("--out") { Description = "folder for checkpoints (last.pth, best.pth), log.csv and curves.png", Required = true };
        var maxBatches = new Option<int?>("--max-batches") { Description = "stop each epoch after this many batches (quick trials)" };
        var notes = new Option<string?>("--notes") { Description = "free text kept with the checkpoint and the exported manifest" };
        var distributed = new DistributedLaunch();
        var command = new Command("train", "Train M2SNet, MSNet or CHNet with the papers' recipe: multi-scale, SGD with Nesterov momentum, structure loss + LossNet.")
        {
            model, data, validation, fraction, task, epochs, batch, size, rates, lr, backboneLr, loss, lossNet, backbone, resume, seed, skipBad,
            threads, device, output, maxBatches, notes,
        };
        distributed.AddTo(command);
        command.SetAction(parse => CliErrors.Guard(() =>
        {
            var taskName = parse.GetValue(task)!;
            if (!TaskPresets.Epochs.TryGetValue(taskName, out var presetEpochs))
            {
                throw new CliException($"unknown task '{taskName}' (known: {string.Join(", ", TaskPresets.Epochs.Keys)})");
            }
            var rateValues = ParseRates(parse.GetValue(rates)!);
            var s = parse.GetValue(size);
            if (s < 32 || s % 32 != 0) throw new CliException($"--size must be a positive multiple of 32, not {s}");
            var lossVariant = parse.GetValue(loss) switch
            {
                "weighted" => StructureLossVariant.Weighted,
                "reference" => StructureLossVariant.Reference,
                var other => throw new CliException($"unknown --loss '{other}' (weighted or reference)"),
            };
            var place = distributed.Resolve(parse);
            if (place.Role == DistributedLaunch.Role.Launcher) return DistributedLaunch.Launch(place.World, place.Rank, place.LocalRanks, place.Address, place.Port);
            var deviceValue = Device.Parse(parse.GetValue(device)!);
            ProcessGroup? group = null;
            if (place.Role == DistributedLaunch.Role.Rank)
            {
                deviceValue = DistributedLaunch.RankDevice(deviceValue, place.LocalRank);
                var backendName = DistributedLaunch.ChooseBackend(parse.GetValue(distributed.Backend)!, deviceValue, DistributedLaunch.SharesGpus(deviceValue, place.LocalRanks));
                group = DistributedLaunch.Join(backendName, place.World, place.Rank, place.Address, place.Port, TimeSpan.FromSeconds(parse.GetValue(distributed.Timeout)), deviceValue);
            }
            using var _ = group;
            // Ranks on one machine share its cores.
            var threadCount = parse.GetValue(threads) is > 0 and var t ? t : Math.Max(1, Environment.ProcessorCount / Math.Max(1, place.LocalRanks));
            var options = new TrainingOptions
            {
                Model = ModelRegistry.Get(parse.GetValue(model)!).Name,
                TrainData = DatasetLayout.Discover(parse.GetValue(data)!.FullName),
                ValidationData = parse.GetValue(validation) is { } v ? DatasetLayout.Discover(v.FullName) : null,
                ValidationFraction = parse.GetValue(fraction),
                OutputDirectory = parse.GetValue(output)!.FullName,
                Epochs = parse.GetValue(epochs) ?? presetEpochs,
                BatchSize = parse.GetValue(batch),
                Size = s,
                Rates = rateValues,
                HeadLearningRate = parse.GetValue(lr),
                BackboneLearningRate = parse.GetValue(backboneLr),
                Loss = lossVariant,
                LossNetWeights = Existing(parse.GetValue(lossNet), "--lossnet-weights"),
                BackboneWeights = Existing(parse.GetValue(backbone), "--backbone-weights"),
                Resume = Existing(parse.GetValue(resume), "--resume"),
                Seed = parse.GetValue(seed),
                SkipBad = parse.GetValue(skipBad),
                Threads = group is null ? parse.GetValue(threads) : threadCount,
                Device = deviceValue,
                Group = group,
                MaxBatchesPerEpoch = parse.GetValue(maxBatches),
                Notes = parse.GetValue(notes),
            };
            var lead = group is null || group.Rank == 0;
            var prefix = group is null ? "" : $"[rank {group.Rank}] ";
            if (lead)
            {
                Console.WriteLine($"training {options.Model} for {options.Epochs} epochs, batch {options.BatchSize}{(group is null ? "" : " per rank")}, {options.Size}x{options.Size}, " +
                    $"rates {string.Join("/", rateValues)}, seed {options.Seed}, world size {group?.WorldSize ?? 1}");
            }
            var trainer = new Trainer(options, message => Console.WriteLine(prefix + message));
            var result = lead ? Run(trainer) : trainer.Run();
            if (lead) Console.WriteLine($"best validation mDice {result.BestDice:F4}; checkpoints in {options.OutputDirectory} (best.pth, last.pth), log.csv, curves.png");
            return 0;
        }));
        return command;
    }

    private static TrainingResult Run(Trainer trainer)
    {
        void PrintEpoch(EpochSummary e) => Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"epoch {e.Epoch,3}: loss {e.Loss:F4} (structure {e.Structure:F4}, LossNet {e.LossNet:F4}), lr {e.HeadLearningRate:G3}, " +
            $"val mDice {e.ValidationDice:F4} mIoU {e.ValidationIoU:F4}, {e.Seconds:F0} s{(e.Best ? ", best" : "")}"));
        if (!AnsiConsole.Profile.Capabilities.Interactive)
        {
            var lastLine = DateTime.MinValue;
            return trainer.Run(new SyncProgress<TrainingProgress>(p =>
            {
                if ((DateTime.UtcNow - lastLine).TotalSeconds < 10 && p.Batch != p.Batches) return;
                lastLine = DateTime.UtcNow;
                Console.WriteLine(Describe(p));
            }), PrintEpoch);
        }
        TrainingResult? result = null;
        AnsiConsole.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
            .Start(ctx =>
            {
                var bar = ctx.AddTask("starting", maxValue: 1);
                result = trainer.Run(new SyncProgress<TrainingProgress>(p =>
                {
                    bar.MaxValue = p.Epochs * (double)p.Batches;
                    bar.Value = (p.Epoch - 1) * (double)p.Batches + p.Batch;
                    bar.Description = Markup.Escape(Describe(p));
                }), e => AnsiConsole.WriteLine(Escape(e)));
            });
        return result!;

        string Escape(EpochSummary e) => string.Create(CultureInfo.InvariantCulture,
            $"epoch {e.Epoch,3}: loss {e.Loss:F4}, val mDice {e.ValidationDice:F4} mIoU {e.ValidationIoU:F4}, {e.Seconds:F0} s{(e.Best ? ", best" : "")}");
    }

    private static string Describe(TrainingProgress p) => string.Create(CultureInfo.InvariantCulture,
        $"epoch {p.Epoch}/{p.Epochs} batch {p.Batch}/{p.Batches}: loss {p.Loss:F4} (structure {p.Structure:F4}, LossNet {p.LossNet:F4}), lr {p.HeadLearningRate:G3}, {p.ImagesPerSecond:F1} img/s, ETA {p.Remaining:hh\\:mm\\:ss}");

    private static double[] ParseRates(string text)
    {
        var parts = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var rates = new double[parts.Length];
        for (var i = 0; i < parts.Length; i++)
        {
            if (!double.TryParse(parts[i], NumberStyles.Float, CultureInfo.InvariantCulture, out rates[i]) || rates[i] <= 0)
            {
                throw new CliException($"--rates expects positive numbers separated by commas, not '{text}'");
            }
        }
        if (rates.Length == 0) throw new CliException("--rates needs at least one rate");
        return rates;
    }

    private static string? Existing(FileInfo? file, string option)
    {
        if (file is null) return null;
        if (!file.Exists) throw new CliException($"{option}: file not found: {file.FullName}");
        return file.FullName;
    }
}
