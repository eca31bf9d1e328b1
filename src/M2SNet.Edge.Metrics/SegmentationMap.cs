namespace M2SNet.Edge.Metrics;

/// <summary>
/// A prediction and its ground truth at the same size, as the authors' test script prepares them:
/// the prediction min-max normalised to [0, 1] (a constant map divided by 255), the ground truth
/// scaled by its maximum and binarised at 0.5.
/// </summary>
public sealed class SegmentationMap
{
    private SegmentationMap(double[] prediction, double[] groundTruth, int height, int width)
    {
        Prediction = prediction;
        GroundTruth = groundTruth;
        Height = height;
        Width = width;
    }

    /// <summary>Prediction in [0, 1], row-major H×W.</summary>
    public double[] Prediction { get; }

    /// <summary>Ground truth, exactly 0 or 1, row-major H×W.</summary>
    public double[] GroundTruth { get; }

    public int Height { get; }

    public int Width { get; }

    public int Count => Height * Width;

    /// <summary>Normalises a raw prediction and ground truth as test_score.py does.</summary>
    public static SegmentationMap Prepare(ReadOnlySpan<float> prediction, ReadOnlySpan<float> groundTruth, int height, int width)
    {
        var n = height * width;
        if (prediction.Length != n || groundTruth.Length != n)
        {
            throw new ArgumentException($"prediction ({prediction.Length}) and ground truth ({groundTruth.Length}) must both hold {height}x{width} values");
        }
        // gt = float32; gt /= gt.max() + 1e-8; gt > 0.5 → 1, else 0 (all in float32).
        var gtMax = float.MinValue;
        foreach (var g in groundTruth) gtMax = Math.Max(gtMax, g);
        var denominator = (float)(gtMax + 1e-8);
        var gt = new double[n];
        for (var i = 0; i < n; i++) gt[i] = groundTruth[i] / denominator > 0.5f ? 1 : 0;

        double min = double.MaxValue, max = double.MinValue;
        foreach (var p in prediction)
        {
            min = Math.Min(min, p);
            max = Math.Max(max, p);
        }
        var pred = new double[n];
        if (max > min)
        {
            for (var i = 0; i < n; i++) pred[i] = (prediction[i] - min) / (max - min);
        }
        else
        {
            for (var i = 0; i < n; i++) pred[i] = prediction[i] / 255.0;
        }
        return new SegmentationMap(pred, gt, height, width);
    }

    /// <summary>Already prepared values (tests, or maps normalised elsewhere).</summary>
    public static SegmentationMap FromPrepared(double[] prediction, double[] groundTruth, int height, int width) =>
        new(prediction, groundTruth, height, width);
}
