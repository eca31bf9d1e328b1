using static M2SNet.Edge.Torch.torch;

namespace M2SNet.Edge.Torch.Tests;

/// <summary>Tests that read process-wide counters run alone.</summary>
[CollectionDefinition(nameof(ProcessWide), DisableParallelization = true)]
public sealed class ProcessWide;

public sealed class ModuleTests
{
    private sealed class Block : nn.Module<Tensor, Tensor>
    {
        private readonly nn.Sequential body;
        private readonly nn.Conv2d head;

        public Block()
        {
            body = register_module(nameof(body), new nn.Sequential(new nn.Conv2d(3, 4, 3, padding: 1, bias: false), new nn.BatchNorm2d(4), new nn.ReLU()));
            head = register_module(nameof(head), new nn.Conv2d(4, 1, 1));
        }

        public override Tensor forward(Tensor input) => head.forward(body.forward(input));
    }

    [Fact]
    public void State_dict_keys_follow_the_module_tree_in_PyTorch_order()
    {
        using var m = new Block();

        Assert.Equal(
            ["body.0.weight", "body.1.weight", "body.1.bias", "body.1.running_mean", "body.1.running_var", "body.1.num_batches_tracked", "head.weight", "head.bias"],
            m.state_dict().Select(p => p.Key));
        Assert.Equal(3 * 4 * 9 + 4 + 4 + 4 + 1, m.parameter_count());
    }

    [Fact]
    public void Train_and_eval_switch_every_submodule()
    {
        using var m = new Block();

        m.eval();
        Assert.All(m.named_modules(), p => Assert.False(p.module.training));
        m.train();
        Assert.All(m.named_modules(), p => Assert.True(p.module.training));
    }

    [Fact]
    public void Load_reports_every_problem_at_once_and_changes_nothing()
    {
        using var m = new Block();
        using var scope = NewDisposeScope();
        var headBefore = m.state_dict().First(p => p.Key == "head.weight").Value.data<float>();
        var values = m.state_dict().ToDictionary(p => p.Key, p => p.Value.clone() + 1, StringComparer.Ordinal);
        values.Remove("head.bias");
        values["extra.weight"] = zeros([1]);
        values["body.0.weight"] = zeros([4, 3, 5, 5]);

        var e = Assert.Throws<StateDictException>(() => m.load_state_dict(values));

        Assert.Contains("missing keys (1): head.bias", e.Message);
        Assert.Contains("unexpected keys (1): extra.weight", e.Message);
        Assert.Contains("body.0.weight: model [4, 3, 3, 3], given [4, 3, 5, 5]", e.Message);
        Assert.Equal(headBefore, m.state_dict().First(p => p.Key == "head.weight").Value.data<float>());
    }

    [Fact]
    public void Load_copies_values_and_converts_their_type()
    {
        using var m = new Block();
        using var scope = NewDisposeScope();
        var values = m.state_dict().ToDictionary(p => p.Key, p => p.Value.dtype == ScalarType.Int64 ? full([], 7, ScalarType.Int64) : full(p.Value.shape, 0.5, ScalarType.Float16), StringComparer.Ordinal);

        m.load_state_dict(values);

        Assert.All(m.named_parameters(), p => Assert.All(p.parameter.data<float>(), v => Assert.Equal(0.5f, v)));
        Assert.Equal(7, m.state_dict().First(p => p.Key.EndsWith("num_batches_tracked", StringComparison.Ordinal)).Value.item());
        Assert.All(m.parameters(), p => Assert.True(p.requires_grad));
    }

}

[Collection(nameof(ProcessWide))]
public sealed class DisposeScopeTests
{
    private sealed class Block : nn.Module<Tensor, Tensor>
    {
        private readonly nn.Sequential body;

        public Block() => body = register_module(nameof(body), new nn.Sequential(new nn.Conv2d(3, 4, 3, padding: 1), new nn.BatchNorm2d(4), new nn.ReLU()));

        public override Tensor forward(Tensor input) => body.forward(input);
    }

    [Fact]
    public void Dispose_scope_frees_every_intermediate_of_a_step()
    {
        using var m = new Block();
        var before = Tensor.LiveCount;

        using (var scope = NewDisposeScope())
        {
            var x = randn([2, 3, 8, 8]);
            var loss = m.forward(x).pow(2).mean();
            loss.backward();
            foreach (var p in m.parameters()) p.grad!.Dispose();
            Assert.True(scope.Count > 5);
        }

        Assert.Equal(before, Tensor.LiveCount);
    }

    [Fact]
    public void A_tensor_moved_out_of_a_scope_survives_it()
    {
        Tensor kept;
        using (NewDisposeScope())
        {
            using var inner = NewDisposeScope();
            kept = ones([2]).MoveToOuterDisposeScope().DetachFromDisposeScope();
        }

        Assert.Equal([1f, 1], kept.data<float>());
        kept.Dispose();
    }
}

public sealed class SgdTests
{
    [Fact]
    public void Nesterov_momentum_with_weight_decay_matches_the_update_rule()
    {
        const double lr = 0.1, momentum = 0.9, wd = 0.01;
        using var p = tensor(new float[] { 1f, -2f }, [2], requires_grad: true).DetachFromDisposeScope();
        using var sgd = new optim.SGD([new optim.ParamGroup("all", [p], lr)], momentum, wd, nesterov: true);
        double[] w = [1, -2];
        double[] buf = [0, 0];

        for (var step = 0; step < 3; step++)
        {
            using (NewDisposeScope())
            {
                sgd.zero_grad();
                (p * p * p).sum().backward(); // gradient 3w²
                sgd.step();
            }
            for (var i = 0; i < 2; i++)
            {
                var d = 3 * w[i] * w[i] + wd * w[i];
                buf[i] = step == 0 ? d : momentum * buf[i] + d;
                w[i] -= lr * (d + momentum * buf[i]);
            }
            var actual = p.data<float>();
            Assert.Equal(w[0], actual[0], 4);
            Assert.Equal(w[1], actual[1], 4);
        }
    }

    [Fact]
    public void Groups_use_their_own_learning_rate_and_parameters_without_gradients_are_untouched()
    {
        using var a = tensor(new float[] { 1f }, [1], requires_grad: true).DetachFromDisposeScope();
        using var b = tensor(new float[] { 1f }, [1], requires_grad: true).DetachFromDisposeScope();
        using var unused = tensor(new float[] { 1f }, [1], requires_grad: true).DetachFromDisposeScope();
        using var sgd = new optim.SGD([new optim.ParamGroup("slow", [a, unused], 0.01), new optim.ParamGroup("fast", [b], 0.1)]);

        using (NewDisposeScope())
        {
            (a + b).sum().backward();
            sgd.step();
        }

        Assert.Equal(0.99f, a.data<float>()[0], 6);
        Assert.Equal(0.9f, b.data<float>()[0], 6);
        Assert.Equal(1f, unused.data<float>()[0]);
    }
}
