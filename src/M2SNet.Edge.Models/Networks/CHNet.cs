using M2SNet.Edge.Models.Backbones;
using static M2SNet.Edge.Torch.torch;

namespace M2SNet.Edge.Models.Networks;

/// <summary>
/// CHNet: Res2Net-50 without its last stage; the features after the stem (1/4), layer1 (1/4),
/// layer2 (1/8) and layer3 (1/16) each go through a 1×1 convolution to 64 channels, are resized
/// (bilinear) to the input size and concatenated; a head of 1×1 convolutions classifies each pixel
/// (256 → 64, batch norm, ReLU, 64 → 1). The paper publishes no code, so the key names are ours:
/// resnet.*, side1..side4, head.0/1/3.
/// </summary>
public sealed class CHNet : nn.Module, ISegmentationNetwork
{
    private readonly Res2Net50 resnet;
    private readonly nn.Conv2d side1, side2, side3, side4;
    private readonly nn.Sequential head;

    /// <param name="widthDivisor">1 for the paper's network; more divides every channel count (small variants).</param>
    public CHNet(int widthDivisor = 1)
    {
        var d = widthDivisor;
        var c = 64 / d;
        resnet = register_module(nameof(resnet), new Res2Net50(withLastStage: false, widthDivisor: d));
        side1 = register_module(nameof(side1), new nn.Conv2d(64 / d, c, 1));
        side2 = register_module(nameof(side2), new nn.Conv2d(256 / d, c, 1));
        side3 = register_module(nameof(side3), new nn.Conv2d(512 / d, c, 1));
        side4 = register_module(nameof(side4), new nn.Conv2d(1024 / d, c, 1));
        head = register_module(nameof(head), new nn.Sequential(
            new nn.Conv2d(4 * c, c, 1), new nn.BatchNorm2d(c), new nn.ReLU(), new nn.Conv2d(c, 1, 1)));
    }

    public nn.Module Backbone => resnet;

    public T Forward<T>(IOps<T> ops, T image)
    {
        var f = resnet.Features(ops, image);
        var sides = new[]
        {
            ops.ResizeLike(ops.Apply(side1, f.X1), image),
            ops.ResizeLike(ops.Apply(side2, f.X2), image),
            ops.ResizeLike(ops.Apply(side3, f.X3), image),
            ops.ResizeLike(ops.Apply(side4, f.X4), image),
        };
        return ops.Apply(head, ops.CatChannels(sides));
    }

    public Tensor forward(Tensor image) => Forward(TorchOps.Default, image);
}
