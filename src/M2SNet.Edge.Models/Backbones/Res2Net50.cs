using static M2SNet.Edge.Torch.torch;

namespace M2SNet.Edge.Models.Backbones;

/// <summary>
/// Res2Net bottleneck (v1b, 26w×4s). The 1×1 reduction is split into four groups of
/// <see cref="Width"/> channels; groups 0–2 pass through 3×3 convolutions in a hierarchy (each
/// also receiving the previous group's output, except in a stage's first block), group 3 passes
/// unchanged (or avg-pooled in a stage's first block); then a 1×1 expansion and the residual.
/// </summary>
public sealed class Bottle2neck : nn.Module
{
    public const int Expansion = 4;
    private const int Scale = 4;
    private const int BaseWidth = 26;

    private readonly nn.Conv2d conv1;
    private readonly nn.BatchNorm2d bn1;
    private readonly nn.ModuleList<nn.Conv2d> convs;
    private readonly nn.ModuleList<nn.BatchNorm2d> bns;
    private readonly nn.Conv2d conv3;
    private readonly nn.BatchNorm2d bn3;
    private readonly nn.Sequential? downsample;
    private readonly nn.AvgPool2d? pool;

    /// <param name="firstOfStage">The stage's first block: strided, pooled 4th group, projection shortcut.</param>
    public Bottle2neck(long inplanes, long planes, long stride, bool firstOfStage)
    {
        Width = (int)(planes * BaseWidth / 64);
        FirstOfStage = firstOfStage;
        conv1 = register_module(nameof(conv1), Layers.Conv(inplanes, Width * Scale, 1));
        bn1 = register_module(nameof(bn1), new nn.BatchNorm2d(Width * Scale));
        convs = register_module(nameof(convs), new nn.ModuleList<nn.Conv2d>(
            Enumerable.Range(0, Scale - 1).Select(_ => Layers.Conv(Width, Width, 3, stride))));
        bns = register_module(nameof(bns), new nn.ModuleList<nn.BatchNorm2d>(
            Enumerable.Range(0, Scale - 1).Select(_ => new nn.BatchNorm2d(Width))));
        conv3 = register_module(nameof(conv3), Layers.Conv(Width * Scale, planes * Expansion, 1));
        bn3 = register_module(nameof(bn3), new nn.BatchNorm2d(planes * Expansion));
        if (firstOfStage)
        {
            pool = new nn.AvgPool2d(3, stride, padding: 1);
            // v1b shortcut: average-pool down first (kernel = stride, ceil mode, not counting padding), then 1×1.
            downsample = register_module(nameof(downsample), new nn.Sequential(
                new nn.AvgPool2d(stride, stride, ceil_mode: true, count_include_pad: false),
                Layers.Conv(inplanes, planes * Expansion, 1),
                new nn.BatchNorm2d(planes * Expansion)));
        }
    }

    public int Width { get; }

    public bool FirstOfStage { get; }

    public T Forward<T>(IOps<T> ops, T x)
    {
        var reduced = ops.Relu(ops.Apply(bn1, ops.Apply(conv1, x)));
        var groups = ops.SplitChannels(reduced, Width);
        var outputs = new List<T>(Scale);
        var sp = groups[0];
        for (var i = 0; i < Scale - 1; i++)
        {
            sp = i == 0 || FirstOfStage ? groups[i] : ops.Add(sp, groups[i]);
            sp = ops.Relu(ops.Apply(bns[i], ops.Apply(convs[i], sp)));
            outputs.Add(sp);
        }
        outputs.Add(FirstOfStage ? ops.Apply(pool!, groups[Scale - 1]) : groups[Scale - 1]);
        var expanded = ops.Apply(bn3, ops.Apply(conv3, ops.CatChannels(outputs)));
        var residual = downsample is null ? x : ops.Apply(downsample, x);
        return ops.Relu(ops.Add(expanded, residual));
    }
}

/// <summary>A stage of Res2Net: blocks "0", "1", ... run in order.</summary>
public sealed class Res2NetStage : nn.Module
{
    private readonly List<Bottle2neck> _blocks = [];

    public Res2NetStage(long inplanes, long planes, int blocks, long stride)
    {
        for (var i = 0; i < blocks; i++)
        {
            var block = i == 0
                ? new Bottle2neck(inplanes, planes, stride, firstOfStage: true)
                : new Bottle2neck(planes * Bottle2neck.Expansion, planes, 1, firstOfStage: false);
            _blocks.Add(register_module(i.ToString(System.Globalization.CultureInfo.InvariantCulture), block));
        }
    }

    public T Forward<T>(IOps<T> ops, T x)
    {
        foreach (var b in _blocks) x = b.Forward(ops, x);
        return x;
    }

    public Tensor forward(Tensor x) => Forward(TorchOps.Default, x);
}

/// <summary>The backbone's feature maps: after the stem's max-pool (1/4) and after each stage.</summary>
public readonly record struct Res2NetFeatures<T>(T X1, T X2, T X3, T X4, T? X5);

/// <summary>
/// Res2Net-50 v1b 26w×4s (Gao et al.): deep stem (three 3×3 convolutions), max-pool, stages of
/// 3, 4, 6, 3 bottlenecks with 256/512/1024/2048 output channels. <c>fc</c> is kept for the
/// ImageNet checkpoints' keys but is not used. Without <paramref name="withLastStage"/> the network
/// stops after layer3 (CHNet). A <paramref name="widthDivisor"/> above 1 divides every channel
/// count (the small variants for CPU-only boxes and the demo).
/// </summary>
public sealed class Res2Net50 : nn.Module
{
    private readonly nn.Sequential conv1;
    private readonly nn.BatchNorm2d bn1;
    private readonly nn.MaxPool2d maxpool = new(3, 2, padding: 1);
    private readonly Res2NetStage layer1;
    private readonly Res2NetStage layer2;
    private readonly Res2NetStage layer3;
    private readonly Res2NetStage? layer4;
    private readonly nn.Linear? fc;

    public Res2Net50(bool withLastStage = true, int widthDivisor = 1)
    {
        var d = widthDivisor;
        if (d < 1 || 32 % d != 0) throw new ArgumentException($"the width divisor must divide 32, not {d}", nameof(widthDivisor));
        conv1 = register_module(nameof(conv1), new nn.Sequential(
            Layers.Conv(3, 32 / d, 3, stride: 2), new nn.BatchNorm2d(32 / d), new nn.ReLU(),
            Layers.Conv(32 / d, 32 / d, 3), new nn.BatchNorm2d(32 / d), new nn.ReLU(),
            Layers.Conv(32 / d, 64 / d, 3)));
        bn1 = register_module(nameof(bn1), new nn.BatchNorm2d(64 / d));
        layer1 = register_module(nameof(layer1), new Res2NetStage(64 / d, 64 / d, 3, 1));
        layer2 = register_module(nameof(layer2), new Res2NetStage(256 / d, 128 / d, 4, 2));
        layer3 = register_module(nameof(layer3), new Res2NetStage(512 / d, 256 / d, 6, 2));
        if (withLastStage)
        {
            layer4 = register_module(nameof(layer4), new Res2NetStage(1024 / d, 512 / d, 3, 2));
            fc = register_module(nameof(fc), new nn.Linear(2048 / d, 1000));
        }
        Layers.InitializeLikeResNet(this);
    }

    public Res2NetFeatures<T> Features<T>(IOps<T> ops, T image)
    {
        var x1 = ops.Apply(maxpool, ops.Relu(ops.Apply(bn1, ops.Apply(conv1, image))));
        var x2 = layer1.Forward(ops, x1);
        var x3 = layer2.Forward(ops, x2);
        var x4 = layer3.Forward(ops, x3);
        var x5 = layer4 is null ? default : layer4.Forward(ops, x4);
        return new Res2NetFeatures<T>(x1, x2, x3, x4, x5);
    }
}
