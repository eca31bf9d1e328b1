using M2SNet.Edge.Torch;
using static M2SNet.Edge.Torch.torch;

namespace M2SNet.Edge.Torch.Tests;

public sealed class TensorTests
{
    [Fact]
    public void Values_shape_and_type_survive_a_round_trip()
    {
        using var t = tensor(new float[] { 1, 2, 3, 4, 5, 6 }, [2, 3]);

        Assert.Equal([2L, 3], t.shape);
        Assert.Equal(ScalarType.Float32, t.dtype);
        Assert.Equal(Device.CPU, t.device);
        Assert.Equal([1f, 2, 3, 4, 5, 6], t.data<float>());
    }

    [Fact]
    public void Arithmetic_broadcasts_like_PyTorch()
    {
        using var scope = NewDisposeScope();
        var a = tensor(new float[] { 1, 2, 3, 4, 5, 6 }, [2, 3]);
        var row = tensor(new float[] { 10, 20, 30 }, [1, 3]);

        Assert.Equal([11f, 22, 33, 14, 25, 36], (a + row).data<float>());
        Assert.Equal([-9f, -18, -27, -6, -15, -24], (a - row).data<float>());
        Assert.Equal([2f, 4, 6, 8, 10, 12], (a * 2).data<float>());
        Assert.Equal([0.5f, 1, 1.5f, 2, 2.5f, 3], (a / 2).data<float>());
        Assert.Equal([5f, 7, 9], a.sum([0]).data<float>());
        Assert.Equal(3.5, a.mean().item(), 6);
        Assert.Equal([21f, 42, 63, 24, 45, 66], a.add(row, 2).data<float>());
        Assert.Equal([9f, 8, 7, 6, 5, 4], (a - 10).abs().data<float>());
    }

    [Fact]
    public void Narrow_split_cat_and_reshape_agree()
    {
        using var scope = NewDisposeScope();
        var a = tensor(Enumerable.Range(0, 24).Select(i => (float)i).ToArray(), [1, 6, 2, 2]);

        var parts = a.split(2, 1);
        Assert.Equal(3, parts.Length);
        Assert.Equal([8f, 9, 10, 11, 12, 13, 14, 15], parts[1].data<float>());
        Assert.Equal(a.data<float>(), cat(parts, 1).data<float>());
        Assert.Equal([6L, 4], a.reshape(6, 4).shape);
        Assert.Equal([1L, 6, 2, 2], a.reshape(6, 4).reshape(1, 6, 2, 2).shape);
    }

    [Fact]
    public void Gradient_of_a_square_is_twice_the_input()
    {
        using var scope = NewDisposeScope();
        var x = tensor(new float[] { 1, -2, 3 }, [3], requires_grad: true);

        (x * x).sum().backward();

        Assert.Equal([2f, -4, 6], x.grad!.data<float>());
    }

    [Fact]
    public void No_grad_records_no_history()
    {
        using var scope = NewDisposeScope();
        var x = tensor(new float[] { 1, 2 }, [2], requires_grad: true);

        Tensor y;
        using (no_grad()) y = x * 2;

        Assert.False(y.requires_grad);
        Assert.True(is_grad_enabled());
        Assert.True((x * 2).requires_grad);
    }

    [Fact]
    public void Engine_errors_are_exceptions_with_libtorchs_reason()
    {
        using var scope = NewDisposeScope();
        var a = zeros([2, 3]);
        var b = zeros([4, 5]);

        var e = Assert.Throws<TorchException>(() => a + b);

        Assert.Contains("size of tensor a (3) must match the size of tensor b (5)", e.Message);
    }

    [Fact]
    public void Convolution_with_the_wrong_channel_count_is_an_exception_not_a_crash()
    {
        using var scope = NewDisposeScope();
        var x = zeros([1, 3, 8, 8]);
        var w = zeros([4, 5, 3, 3]);

        var e = Assert.Throws<TorchException>(() => nn.functional.conv2d(x, w));

        Assert.Contains("channels", e.Message);
    }

    [Fact]
    public void A_disposed_tensor_cannot_be_used()
    {
        var t = zeros([2]);
        t.Dispose();

        Assert.Throws<ObjectDisposedException>(() => t.shape);
        t.Dispose();
    }

    [Fact]
    public void Data_of_the_wrong_type_is_refused()
    {
        using var t = zeros([2], ScalarType.Int64);

        Assert.Throws<InvalidOperationException>(() => t.data<float>());
        Assert.Equal([0L, 0], t.data<long>());
    }

    [Fact]
    public void Wrong_number_of_values_for_a_shape_is_refused()
    {
        Assert.Throws<ArgumentException>(() => tensor(new float[] { 1, 2, 3 }, [2, 2]));
    }

    [Fact]
    public void Seeded_random_tensors_repeat()
    {
        manual_seed(7);
        using var a = randn([5]);
        manual_seed(7);
        using var b = randn([5]);

        Assert.Equal(a.data<float>(), b.data<float>());
    }

    [Fact]
    public void Device_names_parse()
    {
        Assert.Equal(Device.CPU, Device.Parse("cpu"));
        Assert.Equal(Device.CUDA(1), Device.Parse("cuda:1"));
        Assert.Throws<ArgumentException>(() => Device.Parse("tpu"));
    }
}
