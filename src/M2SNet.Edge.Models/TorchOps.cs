using M2SNet.Edge.Torch;
using static M2SNet.Edge.Torch.torch;

namespace M2SNet.Edge.Models;

/// <summary>How the all-ones convolution of the multi-scale subtraction unit is computed.</summary>
public enum OnesConvolution
{
    /// <summary>
    /// k²·avgpool_k(Σ_c x) broadcast to every channel: the same function (exact up to rounding),
    /// with C·k² fewer multiply-adds per output pixel.
    /// </summary>
    Rewritten,

    /// <summary>A plain convolution with all-ones weights, as the authors' code runs it.</summary>
    Naive,
}

/// <summary>The libtorch backend: each operation is the matching libtorch call, with autograd.</summary>
public sealed class TorchOps(OnesConvolution onesConvolution = OnesConvolution.Rewritten) : IOps<Tensor>
{
    public static TorchOps Default { get; } = new();

    public OnesConvolution OnesConvolution { get; } = onesConvolution;

    public Tensor Apply(nn.Module<Tensor, Tensor> layer, Tensor x) => layer.forward(x);

    public Tensor Relu(Tensor x) => x.relu();

    public Tensor Add(Tensor a, Tensor b) => a + b;

    public Tensor Sub(Tensor a, Tensor b) => a - b;

    public Tensor Abs(Tensor x) => x.abs();

    public Tensor Sigmoid(Tensor x) => x.sigmoid();

    public Tensor ResizeLike(Tensor x, Tensor like)
    {
        var s = like.shape;
        return nn.functional.interpolate_bilinear(x, s[2], s[3], align_corners: false);
    }

    public Tensor CatChannels(IReadOnlyList<Tensor> xs) => cat(xs, 1);

    public IReadOnlyList<Tensor> SplitChannels(Tensor x, int width) => x.split(width, 1);

    public Tensor OnesConv(Tensor x, int kernel)
    {
        var pad = (kernel - 1) / 2;
        var shape = x.shape;
        if (OnesConvolution == OnesConvolution.Naive)
        {
            using var ones = torch.ones([shape[1], shape[1], kernel, kernel], x.dtype, x.device);
            return nn.functional.conv2d(x, ones, null, (1, 1), (pad, pad));
        }
        // Σ_c then a k×k box sum (avg-pool counting the zero padding, times k²), the same for every channel.
        using var channelSum = x.sum(1, keepdim: true);
        using var mean = nn.functional.avg_pool2d(channelSum, (kernel, kernel), (1, 1), (pad, pad), count_include_pad: true);
        using var boxSum = mean * (kernel * kernel);
        return boxSum.expand(shape);
    }
}
