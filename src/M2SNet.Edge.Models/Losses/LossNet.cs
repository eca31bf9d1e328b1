using M2SNet.Edge.Torch.Serialization;
using static M2SNet.Edge.Torch.torch;

namespace M2SNet.Edge.Models.Losses;

/// <summary>
/// LossNet, the perceptual term of M2SNet's training loss: a frozen ImageNet VGG16 (torchvision
/// layout, <c>features[0:23]</c>) compares the predicted probability map and the mask through four
/// feature blocks; the loss is the sum of the blocks' mean squared errors.
/// </summary>
public sealed class LossNet : nn.Module
{
    /// <summary>Where each block ends in <c>features</c>: [0:4], [4:9], [9:16], [16:23].</summary>
    private static readonly int[] s_blockEnds = [4, 9, 16, 23];
    private static readonly float[] s_mean = [0.485f, 0.456f, 0.406f];
    private static readonly float[] s_std = [0.229f, 0.224f, 0.225f];

    private readonly nn.Sequential features;
    private readonly Tensor _mean;
    private readonly Tensor _std;

    public LossNet()
    {
        var layers = new List<nn.Module<Tensor, Tensor>>();
        long inChannels = 3;
        // torchvision's VGG16 configuration up to relu4_3: 64, 64, M, 128, 128, M, 256×3, M, 512×3.
        foreach (var c in new[] { 64, 64, -1, 128, 128, -1, 256, 256, 256, -1, 512, 512, 512 })
        {
            if (c < 0)
            {
                layers.Add(new nn.MaxPool2d(2, 2));
                continue;
            }
            layers.Add(new nn.Conv2d(inChannels, c, 3, padding: 1));
            layers.Add(new nn.ReLU());
            inChannels = c;
        }
        features = register_module(nameof(features), new nn.Sequential([.. layers]));
        foreach (var p in parameters()) p.requires_grad = false; // frozen: gradients flow through, not into, it
        _mean = tensor(s_mean, [1, 3, 1, 1]).DetachFromDisposeScope();
        _std = tensor(s_std, [1, 3, 1, 1]).DetachFromDisposeScope();
        eval();
    }

    /// <summary>Loads a torchvision VGG16 state dict ("features.N.weight"); its classifier is not needed.</summary>
    public void LoadTorchvision(IReadOnlyList<KeyValuePair<string, TensorData>> stateDict) =>
        Checkpoint.LoadInto(this, stateDict.Where(p => !p.Key.StartsWith("classifier.", StringComparison.Ordinal)).ToList());

    /// <param name="probability">The prediction after the sigmoid, [N, 1, H, W].</param>
    /// <param name="target">The mask, [N, 1, H, W].</param>
    public Tensor forward(Tensor probability, Tensor target)
    {
        using var scope = NewDisposeScope();
        var x = Prepare(probability);
        var y = Prepare(target);
        Tensor? total = null;
        var start = 0;
        foreach (var end in s_blockEnds)
        {
            for (var i = start; i < end; i++)
            {
                x = features[i].forward(x);
                y = features[i].forward(y);
            }
            var term = nn.functional.mse_loss(x, y);
            total = total is null ? term : total + term;
            start = end;
        }
        return total!.MoveToOuterDisposeScope();
    }

    protected override void OnDispose()
    {
        _mean.Dispose();
        _std.Dispose();
    }

    /// <summary>Gray to RGB, ImageNet normalisation, 224×224 (bilinear, align_corners false).</summary>
    private Tensor Prepare(Tensor map)
    {
        var rgb = map.size(1) == 3 ? map : map.repeat(1, 3, 1, 1);
        var normalised = (rgb - _mean.to(map.device)) / _std.to(map.device);
        return nn.functional.interpolate_bilinear(normalised, 224, 224, align_corners: false);
    }
}
