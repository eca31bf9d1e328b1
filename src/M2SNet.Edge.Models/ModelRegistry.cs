using M2SNet.Edge.Models.Networks;

namespace M2SNet.Edge.Models;

/// <summary>A network the appliance knows by name, with how to feed it.</summary>
/// <param name="Name">Registry name: m2snet, msnet, chnet.</param>
/// <param name="Title">What the paper calls it.</param>
/// <param name="InputSize">Training and inference size (square), a multiple of 32.</param>
/// <param name="Mean">ImageNet normalisation mean (RGB).</param>
/// <param name="Std">ImageNet normalisation standard deviation (RGB).</param>
/// <param name="ReferenceParameters">Parameters of the authors' model, without the unused ImageNet classifier (null where no code was published).</param>
public sealed record ModelSpec(
    string Name,
    string Title,
    int InputSize,
    float[] Mean,
    float[] Std,
    long? ReferenceParameters,
    Func<ISegmentationNetwork> Create);

public static class ModelRegistry
{
    public static readonly float[] ImageNetMean = [0.485f, 0.456f, 0.406f];
    public static readonly float[] ImageNetStd = [0.229f, 0.224f, 0.225f];

    public static IReadOnlyList<ModelSpec> All { get; } =
    [
        new("m2snet", "M2SNet: multi-scale in multi-scale subtraction network", 352, ImageNetMean, ImageNetStd, 27_692_585, () => new Networks.M2SNet()),
        new("msnet", "MSNet: multi-scale subtraction network", 352, ImageNetMean, ImageNetStd, 27_692_329, () => new Networks.MSNet()),
        new("chnet", "CHNet: Res2Net-50 features with a pixel-classification head", 352, ImageNetMean, ImageNetStd, null, () => new Networks.CHNet()),
        new("m2snet-s", "M2SNet-S: M2SNet at a quarter of every width, for CPU-only boxes and the demo", 352, ImageNetMean, ImageNetStd, null,
            () => new Networks.M2SNet(widthDivisor: 4)),
        new("chnet-s", "CHNet-S: CHNet at a quarter of every width", 352, ImageNetMean, ImageNetStd, null, () => new Networks.CHNet(widthDivisor: 4)),
    ];

    public static IEnumerable<string> Names => All.Select(m => m.Name);

    public static ModelSpec Get(string name) =>
        All.FirstOrDefault(m => string.Equals(m.Name, name, StringComparison.OrdinalIgnoreCase))
        ?? throw new ArgumentException($"unknown model '{name}' (known: {string.Join(", ", Names)})", nameof(name));

    /// <summary>Trainable parameters that take part in the forward pass (the backbone's ImageNet classifier excluded).</summary>
    public static long CountParameters(ISegmentationNetwork network) =>
        ((Torch.torch.nn.Module)network).named_parameters()
            .Where(p => !p.name.StartsWith("resnet.fc.", StringComparison.Ordinal))
            .Sum(p => p.parameter.numel());
}
