using M2SNet.Edge.Models.Losses;
using M2SNet.Edge.Models.Networks;
using M2SNet.Edge.TestSupport;
using static M2SNet.Edge.Torch.torch;

namespace M2SNet.Edge.Models.Tests;

public sealed class StateDictLayoutTests
{
    [Theory]
    [InlineData("M2SNet", 690)]
    [InlineData("MSNet", 680)]
    public void Keys_and_shapes_are_the_authors_in_their_order(string model, int count)
    {
        var expected = Reference.StateDictKeys(model);
        using var net = (nn.Module)ModelRegistry.Get(model.ToLowerInvariant()).Create();

        var actual = net.state_dict().Select(p => (p.Key, p.Value.shape)).ToList();

        Assert.Equal(count, expected.Count);
        Assert.Equal(expected.Select(e => e.Key), actual.Select(a => a.Key));
        Assert.All(expected.Zip(actual), p => Assert.True(p.First.Shape.SequenceEqual(p.Second.shape), $"{p.First.Key}: expected [{string.Join(", ", p.First.Shape)}]"));
    }

    [Theory]
    [InlineData("m2snet", 27_692_585)]
    [InlineData("msnet", 27_692_329)]
    public void Parameter_count_without_the_ImageNet_classifier_is_the_papers(string name, long expected)
    {
        var spec = ModelRegistry.Get(name);
        using var net = (nn.Module)spec.Create();

        Assert.Equal(expected, ModelRegistry.CountParameters((ISegmentationNetwork)net));
        Assert.Equal(expected, spec.ReferenceParameters);
    }

    [Fact]
    public void CHNet_is_the_backbone_without_its_last_stage_and_a_small_head()
    {
        using var net = new CHNet();

        var all = ModelRegistry.CountParameters(net);
        var decoder = net.named_parameters().Where(p => !p.name.StartsWith("resnet.", StringComparison.Ordinal)).Sum(p => p.parameter.numel());

        Assert.DoesNotContain(net.state_dict(), p => p.Key.StartsWith("resnet.layer4.", StringComparison.Ordinal) || p.Key.StartsWith("resnet.fc.", StringComparison.Ordinal));
        Assert.InRange(all, 8_400_000, 9_200_000); // paper: about 8.8 M
        Assert.InRange(decoder, 100_000, 200_000); // paper: about 0.15 M
    }

    [Theory]
    [InlineData("m2snet")]
    [InlineData("msnet")]
    [InlineData("chnet")]
    public void Every_network_maps_an_image_to_one_logit_per_pixel(string name)
    {
        using var net = (nn.Module)ModelRegistry.Get(name).Create();
        net.eval();
        using var scope = NewDisposeScope();
        using var _ = no_grad();

        var y = ((ISegmentationNetwork)net).forward(randn([2, 3, 96, 64]));

        Assert.Equal([2L, 1, 96, 64], y.shape);
    }

    [Fact]
    public void Unknown_model_name_lists_the_known_ones()
    {
        var e = Assert.Throws<ArgumentException>(() => ModelRegistry.Get("unet"));

        Assert.Contains("m2snet, msnet, chnet", e.Message);
    }
}

/// <summary>The all-ones convolution computed as k²·avgpool(Σ_c x) equals the plain convolution.</summary>
public sealed class OnesConvolutionTests
{
    [Theory]
    [InlineData(3)]
    [InlineData(5)]
    public void Rewritten_box_sum_equals_the_all_ones_convolution(int kernel)
    {
        using var scope = NewDisposeScope();
        manual_seed(3);
        var x = randn([2, 64, 22, 18]);

        var naive = new TorchOps(OnesConvolution.Naive).OnesConv(x, kernel).data<float>();
        var rewritten = new TorchOps(OnesConvolution.Rewritten).OnesConv(x, kernel).data<float>();

        var absmax = naive.Max(Math.Abs);
        var maxDiff = naive.Zip(rewritten, (a, b) => Math.Abs(a - b)).Max();
        Assert.True(maxDiff <= 1e-5 * absmax, $"max |diff| {maxDiff:E2} for values up to {absmax:F1}");
    }

    /// <summary>
    /// In float64 the two forms agree to rounding (the identity is exact); in float32 a randomly
    /// initialised network in training mode amplifies 1e-7 rounding differences through 50 layers
    /// of batch statistics, so float64 is where the identity itself is tested.
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void M2SNet_outputs_and_gradients_match_between_the_two_forms(bool training)
    {
        using var net = new Networks.M2SNet();
        net.to(Torch.ScalarType.Float64);
        net.train(training);
        manual_seed(11);
        using var input = randn([2, 3, 64, 64], Torch.ScalarType.Float64).DetachFromDisposeScope();
        using var mask = randn([2, 1, 64, 64]).gt(0.5).to(Torch.ScalarType.Float64).DetachFromDisposeScope();

        var (outNaive, gradNaive) = OutputAndGradients(net, OnesConvolution.Naive, input, mask);
        var (outRewritten, gradRewritten) = OutputAndGradients(net, OnesConvolution.Rewritten, input, mask);

        AssertClose(outNaive, outRewritten, 1e-9, "logits");
        Assert.NotEmpty(gradNaive);
        foreach (var key in gradNaive.Keys) AssertClose(gradNaive[key], gradRewritten[key], 1e-7, key);
    }

    [Fact]
    public void In_float32_evaluation_the_two_forms_agree_to_1e_5_of_the_output()
    {
        using var net = new Networks.M2SNet();
        net.eval();
        manual_seed(12);
        using var input = randn([1, 3, 96, 96]).DetachFromDisposeScope();
        float[] Run(OnesConvolution mode)
        {
            using var scope = NewDisposeScope();
            using var _ = no_grad();
            net.OnesConvolution = mode;
            return net.forward(input).data<float>();
        }

        AssertClose(Run(OnesConvolution.Naive), Run(OnesConvolution.Rewritten), 1e-5, "logits");
    }

    private static (double[] Output, Dictionary<string, double[]> Gradients) OutputAndGradients(
        Networks.M2SNet net, OnesConvolution mode, Tensor input, Tensor mask)
    {
        using var scope = NewDisposeScope();
        net.OnesConvolution = mode;
        foreach (var p in net.parameters()) p.zero_grad();
        var logits = net.forward(input);
        StructureLoss.Compute(logits, mask).backward();
        var grads = net.named_parameters()
            .Where(p => p.name.StartsWith("conv_", StringComparison.Ordinal) || p.name.StartsWith("x5_x4.", StringComparison.Ordinal) || p.name == "resnet.conv1.0.weight")
            .ToDictionary(p => p.name, p => p.parameter.grad!.data<double>());
        return (logits.data<double>(), grads);
    }

    private static void AssertClose(float[] a, float[] b, double relative, string what) =>
        AssertClose(a.Select(v => (double)v).ToArray(), b.Select(v => (double)v).ToArray(), relative, what);

    private static void AssertClose(double[] a, double[] b, double relative, string what)
    {
        var scale = a.Max(Math.Abs);
        var diff = a.Zip(b, (x, y) => Math.Abs(x - y)).Max();
        // A bias followed by batch norm has a gradient that is zero up to rounding: judge it against the floor.
        Assert.True(diff <= relative * Math.Max(scale, 1e-3), $"{what}: max |diff| {diff:E2} > {relative:E0} × {scale:E2}");
    }
}

/// <summary>The losses against the values of the authors' code on the fixtures.</summary>
public sealed class LossParityTests
{
    [Fact]
    public void LossNet_value_matches_the_authors_code()
    {
        using var lossNet = new LossNet();
        lossNet.LoadTorchvision(Checkpoint.Load(Reference.Fixture("vgg16_features_fp16.pth")));
        using var scope = NewDisposeScope();
        var pred = tensor(Reference.Float32("lossnet_pred.bin"), [1, 1, 64, 64]);
        var target = tensor(Reference.Float32("lossnet_target.bin"), [1, 1, 64, 64]);

        var value = lossNet.forward(pred, target).item();

        var expected = Reference.Json("losses.json").GetProperty("lossnet").GetProperty("value").GetDouble();
        Assert.True(Math.Abs(value - expected) <= 1e-5 * expected, $"LossNet {value:R} vs {expected:R}");
    }

    [Theory]
    [InlineData(StructureLossVariant.Weighted, "weighted")]
    [InlineData(StructureLossVariant.Reference, "reference")]
    public void Structure_loss_matches_the_authors_code(StructureLossVariant variant, string key)
    {
        using var scope = NewDisposeScope();
        var logits = tensor(Reference.Float32("loss_logits.bin"), [2, 1, 64, 64]);
        var mask = tensor(Reference.Float32("loss_mask.bin"), [2, 1, 64, 64]);

        var value = StructureLoss.Compute(logits, mask, variant).item();

        var expected = Reference.Json("losses.json").GetProperty("structure_loss").GetProperty(key).GetDouble();
        Assert.True(Math.Abs(value - expected) <= 1e-5 * expected, $"{key}: {value:R} vs {expected:R}");
    }

    [Fact]
    public void A_whole_torchvision_VGG16_checkpoint_loads_without_its_classifier()
    {
        using var lossNet = new LossNet();
        var vgg = Checkpoint.Load(Reference.Fixture("vgg16_features_fp16.pth")).ToList();
        vgg.Add(new("classifier.0.weight", Torch.Serialization.TensorData.FromFloat32(new float[8], 2, 4)));
        vgg.Add(new("classifier.0.bias", Torch.Serialization.TensorData.FromFloat32(new float[2], 2)));

        lossNet.LoadTorchvision(vgg);

        using var scope = NewDisposeScope();
        var loaded = lossNet.state_dict().First(p => p.Key == "features.21.weight").Value.data<float>();
        Assert.Equal(vgg.First(p => p.Key == "features.21.weight").Value.ToFloat32(), loaded);
    }

    [Fact]
    public void LossNet_passes_gradients_to_the_prediction_but_does_not_train()
    {
        using var lossNet = new LossNet();
        using var scope = NewDisposeScope();
        var logits = randn([1, 1, 32, 32], requires_grad: true);
        var target = zeros([1, 1, 32, 32]);

        lossNet.forward(logits.sigmoid(), target).backward();

        Assert.NotNull(logits.grad);
        Assert.All(lossNet.parameters(), p => Assert.Null(p.grad));
    }
}
