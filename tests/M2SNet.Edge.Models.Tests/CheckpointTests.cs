using M2SNet.Edge.Models.Networks;
using M2SNet.Edge.TestSupport;
using M2SNet.Edge.Torch.Serialization;
using static M2SNet.Edge.Torch.torch;

namespace M2SNet.Edge.Models.Tests;

public sealed class CheckpointTests
{
    private static readonly Lazy<IReadOnlyList<KeyValuePair<string, TensorData>>> s_reference =
        new(() => Checkpoint.Load(Reference.Fixture("m2snet_ref_fp16.pth")));

    [Fact]
    public void Wrapped_and_DataParallel_prefixed_checkpoints_load_the_same_weights()
    {
        var path = Path.Combine(Path.GetTempPath(), $"m2s-wrapped-{Guid.NewGuid():N}.pth");
        var inner = new PickleDict { IsOrdered = true };
        foreach (var (k, v) in s_reference.Value) inner.Add("module." + k, v);
        var root = new PickleDict();
        root.Add("epoch", 12L);
        root.Add("state_dict", inner);
        try
        {
            PthArchive.Write(path, root);

            var loaded = Checkpoint.Load(path);

            Assert.Equal(s_reference.Value.Select(p => p.Key), loaded.Select(p => p.Key));
            using var net = new Networks.M2SNet();
            Assert.Equal(CheckpointKind.Network, Checkpoint.LoadNetwork(net, loaded));
            net.eval();
            var (maxAbs, _) = ParityTests.Compare(ParityTests.Run(net), Reference.Float32("m2snet_output.bin"));
            Assert.True(maxAbs <= 1e-3);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void A_checkpoint_of_another_architecture_is_refused_whole()
    {
        using var net = new Networks.MSNet();
        using var scope = NewDisposeScope();
        var before = net.state_dict().First(p => p.Key == "x5_dem_1.0.weight").Value.data<float>();

        var e = Assert.Throws<StateDictException>(() => Checkpoint.LoadNetwork(net, s_reference.Value));

        Assert.Contains("unexpected keys (10): conv_3.norm.weight", e.Message);
        Assert.Equal(before, net.state_dict().First(p => p.Key == "x5_dem_1.0.weight").Value.data<float>());
    }

    [Fact]
    public void Missing_and_misshapen_tensors_are_all_listed()
    {
        using var net = new Networks.M2SNet();
        var broken = s_reference.Value
            .Where(p => p.Key != "output1.0.bias" && p.Key != "level1.1.running_var")
            .Select(p => p.Key == "output1.0.weight" ? new KeyValuePair<string, TensorData>(p.Key, TensorData.FromFloat32(new float[2 * 64 * 9], 2, 64, 3, 3)) : p)
            .ToList();

        var e = Assert.Throws<StateDictException>(() => Checkpoint.LoadNetwork(net, broken));

        Assert.Contains("missing keys (2): level1.1.running_var, output1.0.bias", e.Message);
        Assert.Contains("output1.0.weight: model [1, 64, 3, 3], given [2, 64, 3, 3]", e.Message);
    }

    [Fact]
    public void An_ImageNet_backbone_checkpoint_loads_into_the_backbone_of_every_network()
    {
        // A Res2Net-50 ImageNet checkpoint has the backbone's keys without "resnet." (and its fc).
        using var source = new Networks.M2SNet();
        var backbone = Checkpoint.StateDictOf(source.Backbone);
        Assert.Contains(backbone, p => p.Key == "fc.weight");

        using var chnet = new CHNet();
        Assert.Equal(CheckpointKind.Backbone, Checkpoint.LoadNetwork(chnet, backbone));
        using var m2snet = new Networks.M2SNet();
        Assert.Equal(CheckpointKind.Backbone, Checkpoint.LoadNetwork(m2snet, backbone));

        using var scope = NewDisposeScope();
        var expected = source.state_dict().First(p => p.Key == "resnet.layer3.5.conv3.weight").Value.data<float>();
        Assert.Equal(expected, chnet.state_dict().First(p => p.Key == "resnet.layer3.5.conv3.weight").Value.data<float>());
        Assert.Equal(expected, m2snet.state_dict().First(p => p.Key == "resnet.layer3.5.conv3.weight").Value.data<float>());
    }

    [Fact]
    public void Saved_network_reloads_bit_for_bit()
    {
        var path = Path.Combine(Path.GetTempPath(), $"m2s-chnet-{Guid.NewGuid():N}.pth");
        using var a = new CHNet();
        try
        {
            Checkpoint.Save(a, path);
            using var b = new CHNet();

            Checkpoint.LoadNetwork(b, Checkpoint.Load(path));

            using var scope = NewDisposeScope();
            foreach (var (pa, pb) in a.state_dict().Zip(b.state_dict()))
            {
                Assert.Equal(pa.Key, pb.Key);
                Assert.Equal(pa.Value.to(Torch.ScalarType.Float64).data<double>(), pb.Value.to(Torch.ScalarType.Float64).data<double>());
            }
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void A_checkpoint_that_is_not_a_state_dict_says_what_it_holds()
    {
        var root = new PickleDict();
        root.Add("epoch", 3L);

        var e = Assert.Throws<InvalidDataException>(() => Checkpoint.StateDictOf(root, "train_state.pth"));

        Assert.Contains("'epoch' holds a Int64, not a tensor", e.Message);
    }
}
