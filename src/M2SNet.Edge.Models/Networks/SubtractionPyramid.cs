using M2SNet.Edge.Models.Backbones;
using static M2SNet.Edge.Torch.torch;

namespace M2SNet.Edge.Models.Networks;

/// <summary>
/// The subtraction pyramid shared by MSNet and M2SNet (M2SNet paper, Fig. 2): Res2Net-50 features
/// reduced to 64 channels, subtraction units between adjacent levels, stacked into a pyramid, summed
/// per level and decoded top-down. The two networks differ only in the unit.
/// Field names are the authors' state-dict keys.
/// </summary>
public abstract class SubtractionPyramid : nn.Module, ISegmentationNetwork
{
    private readonly Res2Net50 resnet;
    private readonly nn.Sequential x5_dem_1, x4_dem_1, x3_dem_1, x2_dem_1;
    private readonly ISubtractionUnit x5_x4, x4_x3, x3_x2, x2_x1;
    private readonly ISubtractionUnit x5_x4_x3, x4_x3_x2, x3_x2_x1;
    private readonly ISubtractionUnit x5_x4_x3_x2, x4_x3_x2_x1;
    private readonly nn.Sequential x5_dem_4;
    private readonly ISubtractionUnit x5_x4_x3_x2_x1;
    private readonly nn.Sequential level3, level2, level1;
    private readonly nn.Sequential x5_dem_5;
    private readonly nn.Sequential output4, output3, output2, output1;
    private readonly TorchOps _naive = new(OnesConvolution.Naive);

    /// <param name="widthDivisor">1 for the papers' network; more divides every channel count (small variants).</param>
    protected SubtractionPyramid(bool multiScale, int widthDivisor = 1)
    {
        var d = widthDivisor;
        var c = 64 / d;
        resnet = register_module(nameof(resnet), new Res2Net50(widthDivisor: d));
        Func<ISubtractionUnit> unit = () => new SubtractionUnit(c);
        if (multiScale)
        {
            // conv_3 and conv_5: the fixed all-ones filters' batch norms, shared by every unit.
            var conv_3 = register_module("conv_3", new FixedOnesFilter(3, c));
            var conv_5 = register_module("conv_5", new FixedOnesFilter(5, c));
            unit = () => new MultiScaleSubtractionUnit(conv_3, conv_5, c);
        }
        ISubtractionUnit Unit(string name) => (ISubtractionUnit)register_module(name, (nn.Module)unit());
        nn.Sequential Cbr(string name, long inChannels) => register_module(name, Layers.ConvBnRelu(inChannels, c));

        x5_dem_1 = Cbr(nameof(x5_dem_1), 2048 / d);
        x4_dem_1 = Cbr(nameof(x4_dem_1), 1024 / d);
        x3_dem_1 = Cbr(nameof(x3_dem_1), 512 / d);
        x2_dem_1 = Cbr(nameof(x2_dem_1), 256 / d);
        x5_x4 = Unit(nameof(x5_x4));
        x4_x3 = Unit(nameof(x4_x3));
        x3_x2 = Unit(nameof(x3_x2));
        x2_x1 = Unit(nameof(x2_x1));
        x5_x4_x3 = Unit(nameof(x5_x4_x3));
        x4_x3_x2 = Unit(nameof(x4_x3_x2));
        x3_x2_x1 = Unit(nameof(x3_x2_x1));
        x5_x4_x3_x2 = Unit(nameof(x5_x4_x3_x2));
        x4_x3_x2_x1 = Unit(nameof(x4_x3_x2_x1));
        x5_dem_4 = Cbr(nameof(x5_dem_4), c);
        x5_x4_x3_x2_x1 = Unit(nameof(x5_x4_x3_x2_x1));
        level3 = Cbr(nameof(level3), c);
        level2 = Cbr(nameof(level2), c);
        level1 = Cbr(nameof(level1), c);
        x5_dem_5 = Cbr(nameof(x5_dem_5), 2048 / d);
        output4 = Cbr(nameof(output4), c);
        output3 = Cbr(nameof(output3), c);
        output2 = Cbr(nameof(output2), c);
        output1 = register_module(nameof(output1), new nn.Sequential(new nn.Conv2d(c, 1, 3, padding: 1)));
    }

    /// <summary>How <see cref="forward"/> computes the all-ones convolutions (the function is the same).</summary>
    public OnesConvolution OnesConvolution { get; set; } = OnesConvolution.Rewritten;

    /// <summary>The backbone, for loading ImageNet weights and for the backbone learning rate.</summary>
    public nn.Module Backbone => resnet;

    /// <summary>Logits at the input's resolution (sigmoid gives the lesion probability).</summary>
    public T Forward<T>(IOps<T> ops, T image)
    {
        var (x1, x2, x3, x4, x5) = resnet.Features(ops, image);
        T Up(T x, T like) => ops.ResizeLike(x, like);

        // Reduce every level to 64 channels (x1 already has 64).
        var d5 = ops.Apply(this.x5_dem_1, x5!);
        var d4 = ops.Apply(this.x4_dem_1, x4);
        var d3 = ops.Apply(this.x3_dem_1, x3);
        var d2 = ops.Apply(this.x2_dem_1, x2);

        // The subtraction pyramid: adjacent levels, then adjacent results, upward.
        var x5_4 = this.x5_x4.Forward(ops, Up(d5, d4), d4);
        var x4_3 = this.x4_x3.Forward(ops, Up(d4, d3), d3);
        var x3_2 = this.x3_x2.Forward(ops, Up(d3, d2), d2);
        var x2_1 = this.x2_x1.Forward(ops, Up(d2, x1), x1);
        var x5_4_3 = this.x5_x4_x3.Forward(ops, Up(x5_4, x4_3), x4_3);
        var x4_3_2 = this.x4_x3_x2.Forward(ops, Up(x4_3, x3_2), x3_2);
        var x3_2_1 = this.x3_x2_x1.Forward(ops, Up(x3_2, x2_1), x2_1);
        var x5_4_3_2 = this.x5_x4_x3_x2.Forward(ops, Up(x5_4_3, x4_3_2), x4_3_2);
        var x4_3_2_1 = this.x4_x3_x2_x1.Forward(ops, Up(x4_3_2, x3_2_1), x3_2_1);
        var d5_4 = ops.Apply(this.x5_dem_4, x5_4_3_2);
        var x5_4_3_2_1 = this.x5_x4_x3_x2_x1.Forward(ops, Up(d5_4, x4_3_2_1), x4_3_2_1);

        // Each level sums the pyramid's outputs at its resolution.
        var level4 = x5_4;
        var level3 = ops.Apply(this.level3, ops.Add(x4_3, x5_4_3));
        var level2 = ops.Apply(this.level2, ops.Add(ops.Add(x3_2, x4_3_2), x5_4_3_2));
        var level1 = ops.Apply(this.level1, ops.Add(ops.Add(ops.Add(x2_1, x3_2_1), x4_3_2_1), x5_4_3_2_1));

        // Top-down decoder.
        var d5_5 = ops.Apply(this.x5_dem_5, x5!);
        var output4 = ops.Apply(this.output4, ops.Add(Up(d5_5, level4), level4));
        var output3 = ops.Apply(this.output3, ops.Add(Up(output4, level3), level3));
        var output2 = ops.Apply(this.output2, ops.Add(Up(output3, level2), level2));
        var output1 = ops.Apply(this.output1, ops.Add(Up(output2, level1), level1));
        return Up(output1, image);
    }

    public Tensor forward(Tensor image) =>
        Forward(OnesConvolution == OnesConvolution.Naive ? _naive : TorchOps.Default, image);
}

/// <summary>M2SNet (Zhao et al., 2023): multi-scale subtraction units with fixed 1/3/5 all-ones filters.</summary>
public sealed class M2SNet(int widthDivisor = 1) : SubtractionPyramid(multiScale: true, widthDivisor);

/// <summary>MSNet (Zhao et al., MICCAI 2021): single-scale subtraction units.</summary>
public sealed class MSNet(int widthDivisor = 1) : SubtractionPyramid(multiScale: false, widthDivisor);
