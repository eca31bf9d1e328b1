using System.Diagnostics;
using System.Globalization;
using M2SNet.Edge.Charts;
using M2SNet.Edge.Metrics;
using M2SNet.Edge.Models;
using M2SNet.Edge.Models.Losses;
using M2SNet.Edge.Models.Networks;
using M2SNet.Edge.Training.Data;
using static M2SNet.Edge.Torch.torch;

namespace M2SNet.Edge.Training;

/// <summary>Where a step stands, for a progress bar.</summary>
public sealed record TrainingProgress(
    int Epoch, int Epochs, int Batch, int Batches, double Loss, double Structure, double LossNet,
    double HeadLearningRate, double ImagesPerSecond, TimeSpan Remaining);

/// <summary>One epoch's figures, as written to the CSV log.</summary>
public sealed record EpochSummary(
    int Epoch, double Loss, double Structure, double LossNet, double HeadLearningRate, double BackboneLearningRate,
    double ValidationDice, double ValidationIoU, double Seconds, bool Best);

/// <summary>What the run produced.</summary>
public sealed record TrainingResult(string LastCheckpoint, string BestCheckpoint, string LogCsv, string CurvesPng, double BestDice, IReadOnlyList<EpochSummary> Epochs);

/// <summary>
/// Trains a network of the zoo with the papers' recipe: multi-scale batches (every batch at each
/// rate), SGD with Nesterov momentum and weight decay, the backbone at a tenth of the head's
/// learning rate, the authors' triangular schedule, structure loss plus 0.1 × LossNet. After each
/// epoch it validates, logs a CSV row and saves last.pth (and best.pth when mDice improves).
/// </summary>
public sealed class Trainer(TrainingOptions options, Action<string>? log = null)
{
    public TrainingResult Run(IProgress<TrainingProgress>? progress = null, Action<EpochSummary>? epochDone = null, CancellationToken cancel = default)
    {
        var o = options;
        if (o.Size < 32 || o.Size % 32 != 0) throw new ArgumentException($"the training size must be a positive multiple of 32, not {o.Size}");
        if (o.BatchSize < 1) throw new ArgumentException("the batch size must be at least 1");
        if (o.Epochs < 1) throw new ArgumentException("train for at least one epoch");
        // libtorch counts physical cores by default; a 2-vCPU appliance would train on one.
        set_num_threads(o.Threads > 0 ? o.Threads : Environment.ProcessorCount);
        manual_seed((ulong)o.Seed);
        if (o.Group is null || o.Group.Rank == 0) Directory.CreateDirectory(o.OutputDirectory);

        var spec = ModelRegistry.Get(o.Model);
        var (train, validation) = LoadData();
        log?.Invoke($"{train.Count} training and {validation.Count} validation images at {o.Size}x{o.Size}" +
            (train.Skipped.Count > 0 ? $"; {train.Skipped.Count} bad file(s) skipped" : ""));

        using var network = (nn.Module)spec.Create();
        var segmenter = (ISegmentationNetwork)network;
        using var lossNet = LoadLossNet();
        var start = 0;
        var best = double.NegativeInfinity;
        TrainingCheckpoint? resumed = null;
        if (o.Resume is not null)
        {
            resumed = TrainingCheckpoint.Read(o.Resume);
            Checkpoint.LoadNetwork(segmenter, resumed.Model);
            start = resumed.Epoch + 1;
            best = resumed.BestDice;
            log?.Invoke($"resuming after epoch {resumed.Epoch + 1} (best mDice {best:F4})");
        }
        else if (o.BackboneWeights is not null)
        {
            var kind = Checkpoint.LoadNetwork(segmenter, Checkpoint.Load(o.BackboneWeights));
            log?.Invoke(kind == CheckpointKind.Backbone ? "backbone initialised from ImageNet weights" : "initialised from a whole-network checkpoint");
        }
        else
        {
            log?.Invoke("warning: no --backbone-weights: the backbone trains from scratch (the papers start from ImageNet Res2Net-50)");
        }
        network.to(o.Device);
        lossNet?.to(o.Device);
        var group = o.Group;
        var rank = group?.Rank ?? 0;
        var world = group?.WorldSize ?? 1;
        var lead = rank == 0;
        if (group is not null)
        {
            // Every rank starts from rank 0's weights and batch-norm statistics.
            group.Broadcast([.. network.parameters(), .. network.named_buffers().Select(b => b.buffer)], root: 0);
            log?.Invoke($"data parallel over {world} ranks ({group.Backend}): this is rank {rank}; each trains on 1/{world} of every epoch");
        }

        // Split by module: the backbone is pretrained and learns ten times slower.
        var backboneParameters = segmenter.Backbone.parameters().ToHashSet(ReferenceEqualityComparer.Instance);
        var backboneGroup = new optim.ParamGroup("backbone", [.. network.parameters().Where(backboneParameters.Contains)], o.BackboneLearningRate);
        var headGroup = new optim.ParamGroup("head", [.. network.parameters().Where(p => !backboneParameters.Contains(p))], o.HeadLearningRate);
        using var sgd = new optim.SGD([backboneGroup, headGroup], o.Momentum, o.WeightDecay, o.Nesterov);
        if (resumed is not null) RestoreMomentum(network, sgd, resumed);

        var logPath = Path.Combine(o.OutputDirectory, "log.csv");
        var history = ReadHistory(logPath, start);
        var last = Path.Combine(o.OutputDirectory, "last.pth");
        var bestPath = Path.Combine(o.OutputDirectory, "best.pth");
        var augmenter = new Augmenter(o.Seed + rank, spec.Mean, spec.Std);
        var shuffle = new Random(o.Seed);
        for (var e = 0; e < start; e++) shuffle.Shuffle(new int[train.Count]); // same order as an uninterrupted run

        // Equal shards (the remainder is left out), so every rank takes the same number of steps.
        var shard = train.Count / world;
        if (shard == 0) throw new ArgumentException($"{train.Count} training images cannot be shared among {world} ranks");
        var batches = (shard + o.BatchSize - 1) / o.BatchSize;
        if (o.MaxBatchesPerEpoch is { } max) batches = Math.Min(batches, max);
        var clock = Stopwatch.StartNew();
        var imagesSeen = 0L;
        for (var epoch = start; epoch < o.Epochs; epoch++)
        {
            cancel.ThrowIfCancellationRequested();
            var factor = o.ScheduleFactor(epoch);
            backboneGroup.lr = o.BackboneLearningRate * factor;
            headGroup.lr = o.HeadLearningRate * factor;
            network.train();
            var order = Enumerable.Range(0, train.Count).ToArray();
            shuffle.Shuffle(order); // the same order on every rank (same seed); each takes its own shard of it
            if (world > 1) order = order.Where((_, i) => i % world == rank).Take(shard).ToArray();
            var epochClock = Stopwatch.StartNew();
            double sumLoss = 0, sumStructure = 0, sumLossNet = 0;
            var steps = 0;
            for (var b = 0; b < batches; b++)
            {
                cancel.ThrowIfCancellationRequested();
                var members = order.Skip(b * o.BatchSize).Take(o.BatchSize).Select(i => train.Samples[i]).ToList();
                using var scope = NewDisposeScope();
                var (images, masks) = Batch(members, augmenter, augment: true);
                foreach (var rate in o.Rates)
                {
                    using var step = NewDisposeScope();
                    var size = o.SizeAt(rate);
                    var x = size == o.Size ? images : nn.functional.interpolate_bilinear(images, size, size, align_corners: true);
                    var y = size == o.Size ? masks : nn.functional.interpolate_bilinear(masks, size, size, align_corners: true);
                    sgd.zero_grad();
                    var logits = segmenter.forward(x);
                    var structure = StructureLoss.Compute(logits, y, o.Loss);
                    var total = structure;
                    Tensor? perceptual = null;
                    if (lossNet is not null)
                    {
                        perceptual = lossNet.forward(logits.sigmoid(), y);
                        total = structure + perceptual * o.LossNetWeight;
                    }
                    total.backward();
                    group?.AllReduceMean([.. network.parameters().Select(p => p.grad).OfType<Tensor>()]);
                    sgd.step();
                    sumLoss += total.item();
                    sumStructure += structure.item();
                    sumLossNet += perceptual?.item() ?? 0;
                    steps++;
                }
                imagesSeen += members.Count * o.Rates.Count;
                var rateNow = imagesSeen / clock.Elapsed.TotalSeconds;
                var remainingBatches = (o.Epochs - epoch - 1) * batches + (batches - b - 1);
                var perBatch = clock.Elapsed.TotalSeconds / ((epoch - start) * batches + b + 1);
                progress?.Report(new TrainingProgress(epoch + 1, o.Epochs, b + 1, batches, sumLoss / steps, sumStructure / steps, sumLossNet / steps,
                    headGroup.lr, rateNow, TimeSpan.FromSeconds(remainingBatches * perBatch)));
            }

            var (dice, iou) = Validate(segmenter, validation, spec.Mean, spec.Std);
            var isBest = dice > best;
            if (isBest) best = dice;
            var summary = new EpochSummary(epoch + 1, sumLoss / steps, sumStructure / steps, sumLossNet / steps, headGroup.lr, backboneGroup.lr,
                dice, iou, epochClock.Elapsed.TotalSeconds, isBest);
            history.Add(summary);
            // Every rank validates the same weights on the same images (the same numbers); rank 0 writes.
            if (lead)
            {
                WriteHistory(logPath, history);
                var meta = new TrainingMeta(DataDescription(train), train.Count, o.Epochs, o.Size, o.Notes,
                    new Dictionary<string, double> { ["mDice"] = dice, ["mIoU"] = iou });
                TrainingCheckpoint.Save(last, spec.Name, network, sgd, epoch, best, meta);
                if (isBest) File.Copy(last, bestPath, overwrite: true);
                epochDone?.Invoke(summary);
            }
        }

        var curves = Path.Combine(o.OutputDirectory, "curves.png");
        if (lead) PlotCurves(curves, history);
        return new TrainingResult(last, bestPath, logPath, curves, best, history);
    }

    /// <summary>Validation mDice and mIoU at the training size, in eval mode.</summary>
    public static (double Dice, double IoU) Validate(ISegmentationNetwork network, SampleSet validation, float[] mean, float[] std, int batchSize = 8)
    {
        var module = (nn.Module)network;
        var wasTraining = module.training;
        module.eval();
        var augmenter = new Augmenter(0, mean, std);
        double dice = 0, iou = 0;
        try
        {
            for (var start = 0; start < validation.Count; start += batchSize)
            {
                var members = validation.Samples.Skip(start).Take(batchSize).ToList();
                using var scope = NewDisposeScope();
                using var _ = no_grad();
                var (images, _) = Batch(members, augmenter, augment: false);
                var probabilities = network.forward(images).sigmoid().cpu().data<float>();
                var plane = members[0].Size * members[0].Size;
                for (var i = 0; i < members.Count; i++)
                {
                    var gt = members[i].Mask.Select(v => (float)v).ToArray();
                    var map = SegmentationMap.Prepare(probabilities.AsSpan(i * plane, plane), gt, members[i].Size, members[i].Size);
                    dice += PolypMetrics.Dice(map);
                    iou += PolypMetrics.IoU(map);
                }
            }
        }
        finally
        {
            module.train(wasTraining);
        }
        return (dice / validation.Count, iou / validation.Count);
    }

    private (SampleSet Train, SampleSet Validation) LoadData()
    {
        var o = options;
        var all = SampleSet.Load(o.TrainData, o.Size, o.SkipBad);
        if (o.ValidationData is { } v) return (all, SampleSet.Load(v, o.Size, o.SkipBad));
        return all.Split(o.ValidationFraction, o.Seed);
    }

    private LossNet? LoadLossNet()
    {
        if (options.LossNetWeights is null)
        {
            log?.Invoke("warning: no --lossnet-weights (torchvision VGG16): LossNet is disabled and the loss is the structure loss alone");
            return null;
        }
        var lossNet = new LossNet();
        lossNet.LoadTorchvision(Checkpoint.Load(options.LossNetWeights));
        return lossNet;
    }

    private static (Tensor Images, Tensor Masks) Batch(IReadOnlyList<LoadedSample> members, Augmenter augmenter, bool augment)
    {
        var s = members[0].Size;
        var plane = s * s;
        var images = new float[members.Count * 3 * plane];
        var masks = new float[members.Count * plane];
        for (var i = 0; i < members.Count; i++)
        {
            augmenter.Apply(members[i], images.AsSpan(i * 3 * plane, 3 * plane), masks.AsSpan(i * plane, plane), augment);
        }
        return (tensor(images, [members.Count, 3, s, s]), tensor(masks, [members.Count, 1, s, s]));
    }

    private static void RestoreMomentum(nn.Module network, optim.SGD sgd, TrainingCheckpoint checkpoint)
    {
        foreach (var (name, p) in network.named_parameters())
        {
            if (checkpoint.MomentumBuffers.TryGetValue(name, out var data))
            {
                sgd.SetMomentumBuffer(p, from_bytes(data.Data, data.DType, data.Shape, p.device));
            }
        }
    }

    private static string DataDescription(SampleSet set) =>
        string.Join(", ", set.Samples.GroupBy(s => s.Dataset).Select(g => $"{g.Key} ({g.Count()} images)"));

    private static List<EpochSummary> ReadHistory(string path, int keepEpochs)
    {
        var result = new List<EpochSummary>();
        if (!File.Exists(path) || keepEpochs == 0) return result;
        foreach (var line in File.ReadLines(path).Skip(1))
        {
            var f = line.Split(',');
            if (f.Length < 10) continue;
            var d = f.Select(v => double.Parse(v, CultureInfo.InvariantCulture)).ToArray();
            if ((int)d[0] > keepEpochs) break;
            result.Add(new EpochSummary((int)d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7], d[8], d[9] != 0));
        }
        return result;
    }

    private static void WriteHistory(string path, IEnumerable<EpochSummary> history)
    {
        var lines = new List<string> { "epoch,loss,structure_loss,lossnet,lr_head,lr_backbone,val_mdice,val_miou,seconds,best" };
        lines.AddRange(history.Select(h => string.Create(CultureInfo.InvariantCulture,
            $"{h.Epoch},{h.Loss:R},{h.Structure:R},{h.LossNet:R},{h.HeadLearningRate:R},{h.BackboneLearningRate:R},{h.ValidationDice:R},{h.ValidationIoU:R},{h.Seconds:F1},{(h.Best ? 1 : 0)}")));
        File.WriteAllLines(path + ".tmp", lines);
        File.Move(path + ".tmp", path, overwrite: true);
    }

    private static void PlotCurves(string path, IReadOnlyList<EpochSummary> history)
    {
        LineChart.Save(path,
        [
            new Panel("Training loss", "epoch", "loss",
            [
                new Series("total", history.Select(h => ((double)h.Epoch, h.Loss)).ToList(), LineChart.Blue),
                new Series("structure", history.Select(h => ((double)h.Epoch, h.Structure)).ToList(), LineChart.Orange),
                new Series("LossNet", history.Select(h => ((double)h.Epoch, h.LossNet)).ToList(), LineChart.Purple),
            ]),
            new Panel("Validation", "epoch", "score",
            [
                new Series("mDice", history.Select(h => ((double)h.Epoch, h.ValidationDice)).ToList(), LineChart.Green),
                new Series("mIoU", history.Select(h => ((double)h.Epoch, h.ValidationIoU)).ToList(), LineChart.Red),
            ], 0, 1),
            new Panel("Learning rate", "epoch", "lr",
            [
                new Series("head", history.Select(h => ((double)h.Epoch, h.HeadLearningRate)).ToList(), LineChart.Blue),
                new Series("backbone", history.Select(h => ((double)h.Epoch, h.BackboneLearningRate)).ToList(), LineChart.Gray),
            ]),
        ]);
    }
}
