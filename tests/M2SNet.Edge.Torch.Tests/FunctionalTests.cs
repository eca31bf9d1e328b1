using static M2SNet.Edge.Torch.torch;

namespace M2SNet.Edge.Torch.Tests;

/// <summary>The layer functions against straightforward C# computations of their definitions.</summary>
public sealed class FunctionalTests
{
    [Fact]
    public void Conv2d_matches_a_direct_convolution_with_stride_and_padding()
    {
        const int cin = 2, cout = 3, h = 7, w = 6, k = 3, stride = 2, pad = 1;
        var rng = new Random(1);
        var x = Values(rng, cin * h * w);
        var weight = Values(rng, cout * cin * k * k);
        var bias = Values(rng, cout);
        using var scope = NewDisposeScope();

        var y = nn.functional.conv2d(tensor(x, [1, cin, h, w]), tensor(weight, [cout, cin, k, k]), tensor(bias, [cout]), (stride, stride), (pad, pad));

        var oh = (h + 2 * pad - k) / stride + 1;
        var ow = (w + 2 * pad - k) / stride + 1;
        Assert.Equal([1L, cout, oh, ow], y.shape);
        var actual = y.data<float>();
        for (var o = 0; o < cout; o++)
        for (var r = 0; r < oh; r++)
        for (var c = 0; c < ow; c++)
        {
            double acc = bias[o];
            for (var i = 0; i < cin; i++)
            for (var kr = 0; kr < k; kr++)
            for (var kc = 0; kc < k; kc++)
            {
                int rr = r * stride + kr - pad, cc = c * stride + kc - pad;
                if (rr >= 0 && rr < h && cc >= 0 && cc < w) acc += x[(i * h + rr) * w + cc] * weight[((o * cin + i) * k + kr) * k + kc];
            }
            Assert.Equal(acc, actual[(o * oh + r) * ow + c], 4);
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Avg_pool_counts_the_padding_only_when_asked(bool countIncludePad)
    {
        using var scope = NewDisposeScope();
        var x = ones([1, 1, 3, 3]);

        var y = nn.functional.avg_pool2d(x, (3, 3), (1, 1), (1, 1), count_include_pad: countIncludePad).data<float>();

        // The corner window sees 4 of its 9 cells inside the image.
        Assert.Equal(countIncludePad ? 4f / 9 : 1f, y[0], 6);
        Assert.Equal(1f, y[4], 6);
    }

    [Fact]
    public void Bilinear_resize_uses_half_pixel_centres()
    {
        const int h = 3, w = 4, oh = 7, ow = 5;
        var x = Values(new Random(2), h * w);
        using var scope = NewDisposeScope();

        var y = nn.functional.interpolate_bilinear(tensor(x, [1, 1, h, w]), oh, ow).data<float>();

        for (var r = 0; r < oh; r++)
        for (var c = 0; c < ow; c++)
        {
            var (r0, r1, fr) = Source(r, h, oh);
            var (c0, c1, fc) = Source(c, w, ow);
            var expected = (1 - fr) * ((1 - fc) * x[r0 * w + c0] + fc * x[r0 * w + c1]) + fr * ((1 - fc) * x[r1 * w + c0] + fc * x[r1 * w + c1]);
            Assert.Equal(expected, y[r * ow + c], 5);
        }

        // align_corners = false: source = (dst + 0.5)·in/out − 0.5, clamped at 0.
        static (int, int, double) Source(int dst, int input, int output)
        {
            var s = Math.Max((dst + 0.5) * input / output - 0.5, 0);
            var i0 = (int)Math.Floor(s);
            return (i0, Math.Min(i0 + 1, input - 1), s - i0);
        }
    }

    [Fact]
    public void Bce_with_logits_follows_its_stable_formula_and_weights()
    {
        float[] logits = [-3f, -0.5f, 0f, 2f, 8f];
        float[] target = [0f, 1f, 1f, 0f, 1f];
        float[] weight = [1f, 2f, 3f, 4f, 5f];
        using var scope = NewDisposeScope();

        var perPixel = nn.functional.binary_cross_entropy_with_logits(tensor(logits, [5]), tensor(target, [5]), tensor(weight, [5]), nn.Reduction.None).data<float>();

        for (var i = 0; i < 5; i++)
        {
            double x = logits[i], t = target[i];
            var bce = Math.Max(x, 0) - x * t + Math.Log(1 + Math.Exp(-Math.Abs(x)));
            Assert.Equal(weight[i] * bce, perPixel[i], 5);
        }
    }

    [Fact]
    public void Batch_norm_in_training_uses_batch_statistics_and_updates_the_running_ones()
    {
        using var bn = new nn.BatchNorm2d(1, momentum: 0.1);
        using var scope = NewDisposeScope();
        var x = tensor(new float[] { 1, 2, 3, 4, 5, 6, 7, 8 }, [2, 1, 2, 2]);

        var y = bn.forward(x).data<float>();

        // mean 4.5, biased variance 5.25 for normalising; unbiased 6 for the running estimate.
        Assert.Equal((1 - 4.5) / Math.Sqrt(5.25 + 1e-5), y[0], 5);
        Assert.Equal(0.45, bn.running_mean.item(), 6);
        Assert.Equal(0.9 + 0.1 * 6, bn.running_var.item(), 6);
        Assert.Equal(1, bn.num_batches_tracked.item());

        bn.eval();
        var z = bn.forward(x).data<float>();
        Assert.Equal((1 - 0.45) / Math.Sqrt(1.5 + 1e-5), z[0], 5);
        Assert.Equal(1, bn.num_batches_tracked.item());
    }

    [Fact]
    public void Max_pool_takes_the_window_maximum_with_ceil_mode()
    {
        using var scope = NewDisposeScope();
        var x = tensor(Enumerable.Range(0, 25).Select(i => (float)i).ToArray(), [1, 1, 5, 5]);

        var y = nn.functional.max_pool2d(x, (2, 2), (2, 2), ceil_mode: true);

        Assert.Equal([1L, 1, 3, 3], y.shape);
        Assert.Equal([6f, 8, 9, 16, 18, 19, 21, 23, 24], y.data<float>());
    }

    private static float[] Values(Random rng, int n) => Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
}
