using System.Diagnostics;
using M2SNet.Edge.Models;
using M2SNet.Edge.TestSupport;
using M2SNet.Edge.Training.Data;
using M2SNet.Edge.Training.Evaluation;
using M2SNet.Edge.Synthetic;

namespace M2SNet.Edge.Training.Tests;

/// <summary>A small synthetic dataset shared by the training tests.</summary>
public sealed class SyntheticData : IDisposable
{
    public SyntheticData()
    {
        Directory = System.IO.Directory.CreateTempSubdirectory("m2s-train-data-");
        SyntheticDataset.Write(Directory.FullName, 24, seed: 100, new SyntheticOptions(96, 96));
    }

    public DirectoryInfo Directory { get; }

    public IReadOnlyList<DatasetFolder> Folders => DatasetLayout.Discover(Directory.FullName);

    public void Dispose() => Directory.Delete(true);
}

public sealed class TrainerTests(SyntheticData data) : IClassFixture<SyntheticData>, IDisposable
{
    private readonly DirectoryInfo _out = Directory.CreateTempSubdirectory("m2s-train-run-");

    public void Dispose() => _out.Delete(true);

    private TrainingOptions Options(int epochs) => new()
    {
        Model = "m2snet-s",
        TrainData = data.Folders,
        OutputDirectory = _out.FullName,
        Epochs = epochs,
        BatchSize = 4,
        Size = 64,
        Rates = [1.0],
        Threads = 2,
        ValidationFraction = 0.25,
    };

    [Fact]
    public void A_short_run_lowers_the_loss_and_leaves_checkpoints_a_log_and_a_plot()
    {
        var result = new Trainer(Options(epochs: 4)).Run(cancel: TestContext.Current.CancellationToken);

        Assert.Equal(4, result.Epochs.Count);
        Assert.True(result.Epochs[^1].Loss < result.Epochs[0].Loss * 0.8, $"loss {result.Epochs[0].Loss:F3} -> {result.Epochs[^1].Loss:F3}");
        Assert.True(File.Exists(result.LastCheckpoint) && File.Exists(result.BestCheckpoint) && File.Exists(result.CurvesPng));
        Assert.Equal(5, File.ReadAllLines(result.LogCsv).Length);
        Assert.StartsWith("epoch,loss,structure_loss,lossnet,lr_head,lr_backbone,val_mdice", File.ReadAllLines(result.LogCsv)[0], StringComparison.Ordinal);
        var checkpoint = TrainingCheckpoint.Read(result.LastCheckpoint);
        Assert.Equal(3, checkpoint.Epoch);
        Assert.Equal("m2snet-s", checkpoint.Architecture);
        Assert.NotEmpty(checkpoint.MomentumBuffers);
        Assert.Equal(result.BestDice, checkpoint.BestDice, 12);
        Assert.Equal(18, checkpoint.Meta!.Images);
    }

    [Fact]
    public void A_resumed_run_continues_after_the_last_epoch()
    {
        new Trainer(Options(epochs: 2)).Run(cancel: TestContext.Current.CancellationToken);

        var resumed = new Trainer(Options(epochs: 3) with { Resume = Path.Combine(_out.FullName, "last.pth") }).Run(cancel: TestContext.Current.CancellationToken);

        Assert.Equal([1, 2, 3], resumed.Epochs.Select(e => e.Epoch));
        Assert.Equal(4, File.ReadAllLines(resumed.LogCsv).Length);
        Assert.Equal(2, TrainingCheckpoint.Read(resumed.LastCheckpoint).Epoch);
    }

    [Fact]
    public void LossNet_joins_the_loss_when_VGG16_weights_are_given()
    {
        var messages = new List<string>();
        var result = new Trainer(Options(epochs: 1) with { LossNetWeights = Reference.Fixture("vgg16_features_fp16.pth") }, messages.Add).Run(cancel: TestContext.Current.CancellationToken);

        Assert.True(result.Epochs[0].LossNet > 0);
        Assert.DoesNotContain(messages, m => m.Contains("LossNet is disabled", StringComparison.Ordinal));
    }

    [Fact]
    public void Without_VGG16_weights_the_run_warns_that_LossNet_is_off()
    {
        var messages = new List<string>();

        var result = new Trainer(Options(epochs: 1), messages.Add).Run(cancel: TestContext.Current.CancellationToken);

        Assert.Contains(messages, m => m.Contains("LossNet is disabled", StringComparison.Ordinal));
        Assert.Equal(0, result.Epochs[0].LossNet);
    }

    [Fact]
    public void PyTorch_reads_the_training_checkpoint()
    {
        var result = new Trainer(Options(epochs: 1)).Run(cancel: TestContext.Current.CancellationToken);

        var psi = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add("import torch, sys\nd = torch.load(sys.argv[1])\nprint(d['architecture'], d['epoch'], len(d['model']), d['meta']['images'], type(d['model']).__name__)");
        psi.ArgumentList.Add(result.LastCheckpoint);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEnd();
        var stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();

        Assert.True(p.ExitCode == 0, stderr);
        var expectedKeys = TrainingCheckpoint.Read(result.LastCheckpoint).Model.Count;
        Assert.Equal($"m2snet-s 0 {expectedKeys} 18 OrderedDict", stdout.Trim());
    }

    [Fact]
    public void A_trained_checkpoint_evaluates_on_held_out_data()
    {
        var result = new Trainer(Options(epochs: 2)).Run(cancel: TestContext.Current.CancellationToken);
        using var predictor = new TorchPredictor(ModelRegistry.Get("m2snet-s"), result.BestCheckpoint, 64);

        var report = Evaluator.Run(predictor, data.Folders, Path.Combine(_out.FullName, "eval"));

        var scores = Assert.Single(report.Datasets);
        Assert.Equal(24, scores.Images);
        Assert.InRange(scores.MDice, 0, 1);
        Assert.True(File.Exists(report.JsonPath) && File.Exists(report.CsvPath) && File.Exists(Assert.Single(report.WorstCaseImages)));
    }
}

public sealed class FolderScoringTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("m2s-score-");

    public void Dispose() => _dir.Delete(true);

    [Fact]
    public void Predictions_equal_to_their_masks_score_perfectly()
    {
        SyntheticDataset.Write(_dir.FullName, 4, 9, new SyntheticOptions(64, 64));
        var masks = Path.Combine(_dir.FullName, "masks");

        var report = Evaluator.ScoreFolders(masks, masks, Path.Combine(_dir.FullName, "out"));

        var d = Assert.Single(report.Datasets);
        Assert.Equal(1, d.MDice, 6);
        Assert.Equal(1, d.MIoU, 6);
        Assert.Equal(0, d.Mae, 9);
        Assert.Equal(0, d.Hd95);
        Assert.True(File.Exists(report.JsonPath));
    }
}
