using M2SNet.Edge.Models.Losses;
using M2SNet.Edge.Torch;
using M2SNet.Edge.Training.Data;

namespace M2SNet.Edge.Training;

/// <summary>The papers' recipe and where to apply it. Defaults are the M2SNet paper's polyp settings.</summary>
public sealed record TrainingOptions
{
    public required string Model { get; init; }

    public required IReadOnlyList<DatasetFolder> TrainData { get; init; }

    /// <summary>Held-out data; without it, <see cref="ValidationFraction"/> of the training data is held out.</summary>
    public IReadOnlyList<DatasetFolder>? ValidationData { get; init; }

    public double ValidationFraction { get; init; } = 0.1;

    public required string OutputDirectory { get; init; }

    public int Epochs { get; init; } = 50;

    public int BatchSize { get; init; } = 16;

    /// <summary>Training size (square), a multiple of 32.</summary>
    public int Size { get; init; } = 352;

    /// <summary>Multi-scale training: every batch is trained at each of these fractions of the size (rounded to multiples of 32).</summary>
    public IReadOnlyList<double> Rates { get; init; } = [0.75, 1, 1.25];

    public double BackboneLearningRate { get; init; } = 0.005;

    public double HeadLearningRate { get; init; } = 0.05;

    public double Momentum { get; init; } = 0.9;

    public double WeightDecay { get; init; } = 5e-4;

    public bool Nesterov { get; init; } = true;

    public StructureLossVariant Loss { get; init; } = StructureLossVariant.Weighted;

    /// <summary>torchvision VGG16 weights for LossNet; without them LossNet is off (with a warning).</summary>
    public string? LossNetWeights { get; init; }

    public double LossNetWeight { get; init; } = 0.1;

    /// <summary>ImageNet Res2Net-50 weights for the backbone; without them it trains from scratch (with a warning).</summary>
    public string? BackboneWeights { get; init; }

    /// <summary>A checkpoint of an earlier run (last.pth) to continue from.</summary>
    public string? Resume { get; init; }

    public int Seed { get; init; } = 1;

    public bool SkipBad { get; init; }

    public int Threads { get; init; }

    public Device Device { get; init; } = Device.CPU;

    /// <summary>Stop each epoch after this many batches (smoke tests and quick trials).</summary>
    public int? MaxBatchesPerEpoch { get; init; }

    /// <summary>
    /// The data-parallel group this process is a rank of (c10d), or null for one process. Each rank
    /// trains on its own shard of every epoch's shuffled order; gradients are averaged over the group
    /// after every backward; rank 0 writes the checkpoints, the log and the curves.
    /// </summary>
    public M2SNet.Edge.Torch.Distributed.ProcessGroup? Group { get; init; }

    /// <summary>Free text recorded in the checkpoint and carried into the exported manifest.</summary>
    public string? Notes { get; init; }

    /// <summary>Training size at a multi-scale rate: round(size·rate / 32)·32, as the authors compute it.</summary>
    public int SizeAt(double rate) => (int)(Math.Round(Size * rate / 32, MidpointRounding.ToEven) * 32);

    /// <summary>The authors' schedule: a triangle over the epochs, lr·(1 − |2·(epoch+1)/(epochs+1) − 1|).</summary>
    public double ScheduleFactor(int epoch) => 1 - Math.Abs(2.0 * (epoch + 1) / (Epochs + 1) - 1);
}

/// <summary>Epoch counts by task, from the M2SNet paper.</summary>
public static class TaskPresets
{
    public static IReadOnlyDictionary<string, int> Epochs { get; } = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase)
    {
        ["polyp"] = 50,
        ["lung"] = 200,
        ["breast"] = 100,
        ["oct"] = 100,
    };
}
