using M2SNet.Edge.Models.Backbones;
using M2SNet.Edge.Models.Networks;
using M2SNet.Edge.TestSupport;
using static M2SNet.Edge.Torch.torch;

namespace M2SNet.Edge.Models.Tests;

/// <summary>Our networks against the outputs of the authors' code on the same weights and inputs.</summary>
public sealed class ParityTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(OnesConvolution.Rewritten)]
    [InlineData(OnesConvolution.Naive)]
    public void M2SNet_logits_match_the_authors_code(OnesConvolution mode)
    {
        using var net = new Networks.M2SNet { OnesConvolution = mode };
        Checkpoint.LoadNetwork(net, Checkpoint.Load(Reference.Fixture("m2snet_ref_fp16.pth")));
        net.eval();

        var actual = Run(net);

        var expected = Reference.Float32("m2snet_output.bin");
        var (maxAbs, absmax) = Compare(actual, expected);
        output.WriteLine($"M2SNet ({mode}): max |diff| {maxAbs:E3}, relative {maxAbs / absmax:E3}");
        Assert.True(maxAbs <= 1e-3, $"max |diff| {maxAbs:E2} > 1e-3");
        Assert.True(maxAbs / absmax <= 1e-5, $"max |diff| / absmax {maxAbs / absmax:E2} > 1e-5");
    }

    [Fact]
    public void MSNet_logits_match_the_authors_code()
    {
        using var net = new Networks.MSNet();
        var state = Checkpoint.Load(Reference.Fixture("m2snet_ref_fp16.pth"))
            .Where(p => !p.Key.StartsWith("conv_3.", StringComparison.Ordinal) && !p.Key.StartsWith("conv_5.", StringComparison.Ordinal))
            .ToList();
        Checkpoint.LoadNetwork(net, state);
        net.eval();

        var actual = Run(net);

        // MSNet's logits are small (absmax 0.91) next to the backbone's rounding noise: the fixture's
        // README gives 1e-3 absolute (and 1e-3 of absmax) as the bar.
        var (maxAbs, absmax) = Compare(actual, Reference.Float32("msnet_output.bin"));
        output.WriteLine($"MSNet: max |diff| {maxAbs:E3}, relative {maxAbs / absmax:E3}");
        Assert.True(maxAbs <= 1e-3, $"max |diff| {maxAbs:E2} > 1e-3");
        Assert.True(maxAbs / absmax <= 1e-3, $"max |diff| / absmax {maxAbs / absmax:E2} > 1e-3");
    }

    [Fact]
    public void Res2Net_layer1_matches_the_authors_code()
    {
        using var layer1 = new Res2NetStage(64, 64, 3, 1);
        Checkpoint.LoadInto(layer1, Checkpoint.Load(Reference.Fixture("res2net_layer1_fp32.pth")));
        layer1.eval();
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var input = tensor(Reference.Float32("layer1_input.bin"), [1, 64, 32, 40]);

        var actual = layer1.forward(input);

        Assert.Equal([1L, 256, 32, 40], actual.shape);
        var (maxAbs, absmax) = Compare(actual.data<float>(), Reference.Float32("layer1_output.bin"));
        output.WriteLine($"layer1: max |diff| {maxAbs:E3}, relative {maxAbs / absmax:E3}");
        Assert.True(maxAbs <= 1e-3 && maxAbs / absmax <= 1e-5, $"max |diff| {maxAbs:E2} (relative {maxAbs / absmax:E2})");
    }

    internal static float[] Run(ISegmentationNetwork net)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var input = tensor(Reference.Float32("m2snet_input.bin"), [1, 3, 128, 160]);
        var output = net.forward(input);
        Assert.Equal([1L, 1, 128, 160], output.shape);
        return output.data<float>();
    }

    internal static (double MaxAbs, double AbsMax) Compare(float[] actual, float[] expected)
    {
        Assert.Equal(expected.Length, actual.Length);
        double maxAbs = 0, absmax = 0;
        for (var i = 0; i < expected.Length; i++)
        {
            maxAbs = Math.Max(maxAbs, Math.Abs(actual[i] - expected[i]));
            absmax = Math.Max(absmax, Math.Abs(expected[i]));
        }
        return (maxAbs, absmax);
    }
}
