using static M2SNet.Edge.Torch.torch;

namespace M2SNet.Edge.Models.Losses;

/// <summary>Which BCE term the structure loss uses.</summary>
public enum StructureLossVariant
{
    /// <summary>BCE weighted per pixel by the boundary weight, per image (the evident intent).</summary>
    Weighted,

    /// <summary>
    /// As the authors' code runs: its reduce='none' lands in the legacy reduce flag, so the BCE term
    /// is the plain mean over every pixel of the batch.
    /// </summary>
    Reference,
}

/// <summary>
/// The "structure loss" of the M2SNet family: weighted BCE + weighted IoU, where pixels near the
/// mask boundary weigh up to 6×: weight = 1 + 5·|avgpool31(mask) − mask|.
/// </summary>
public static class StructureLoss
{
    /// <param name="logits">[N, 1, H, W] before the sigmoid.</param>
    /// <param name="mask">[N, 1, H, W] in {0, 1}.</param>
    public static Tensor Compute(Tensor logits, Tensor mask, StructureLossVariant variant = StructureLossVariant.Weighted)
    {
        using var scope = NewDisposeScope();
        var pooled = nn.functional.avg_pool2d(mask, (31, 31), (1, 1), (15, 15), count_include_pad: true);
        var weight = (pooled - mask).abs() * 5 + 1;
        long[] hw = [2, 3];

        Tensor bce;
        if (variant == StructureLossVariant.Reference)
        {
            bce = nn.functional.binary_cross_entropy_with_logits(logits, mask, reduction: nn.Reduction.Mean);
        }
        else
        {
            var perPixel = nn.functional.binary_cross_entropy_with_logits(logits, mask, reduction: nn.Reduction.None);
            bce = (weight * perPixel).sum(hw) / weight.sum(hw);
        }

        var probability = logits.sigmoid();
        var intersection = (probability * mask * weight).sum(hw);
        var union = ((probability + mask) * weight).sum(hw);
        var iou = 1 - (intersection + 1) / (union - intersection + 1);
        return (bce + iou).mean().MoveToOuterDisposeScope();
    }
}
