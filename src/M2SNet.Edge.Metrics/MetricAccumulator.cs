namespace M2SNet.Edge.Metrics;

/// <summary>Every metric of one image.</summary>
public sealed record ImageScores(
    string Name, double Dice, double IoU, double WeightedF, double SMeasure, double EMeasureAdaptive,
    double EMeasureMax, double EMeasureMean, double Mae, double AdaptiveF, double Ber, double Accuracy, double Hd95, double Asd);

/// <summary>
/// A dataset's scores, aggregated as the reference does: plain means over images, except max F
/// (the maximum of the F curve built from the image-averaged precision and recall curves) and our
/// max/mean E-measure (the maximum and mean of the image-averaged E curve). HD95 and ASD average
/// the images where both masks are non-empty.
/// </summary>
public sealed record DatasetScores(
    string Dataset, int Images, double MDice, double MIoU, double WeightedF, double SMeasure, double EMeasureAdaptive,
    double EMeasureMax, double EMeasureMean, double Mae, double MaxF, double MeanF, double Ber, double Accuracy,
    double Hd95, double Asd, int BoundaryImages)
{
    /// <summary>Named values in the order reports show them.</summary>
    public IReadOnlyList<(string Name, double Value)> Values =>
    [
        ("mDice", MDice), ("mIoU", MIoU), ("wFm", WeightedF), ("Sm", SMeasure), ("maxEm", EMeasureMax), ("meanEm", EMeasureMean),
        ("adpEm", EMeasureAdaptive), ("MAE", Mae), ("maxF", MaxF), ("meanF", MeanF), ("BER", Ber), ("Acc", Accuracy), ("HD95", Hd95), ("ASD", Asd),
    ];
}

/// <summary>Collects images of one dataset and aggregates their scores.</summary>
public sealed class MetricAccumulator(string dataset)
{
    private readonly List<ImageScores> _images = [];
    private readonly List<FMeasureRow?> _fRows = [];
    private readonly List<double[]> _eCurves = [];

    public string Dataset { get; } = dataset;

    public IReadOnlyList<ImageScores> Images => _images;

    public ImageScores Add(string name, SegmentationMap map)
    {
        var f = PolypMetrics.FMeasure(map);
        var e = PolypMetrics.EMeasureCurve(map);
        var scores = new ImageScores(name,
            PolypMetrics.Dice(map), PolypMetrics.IoU(map), PolypMetrics.WeightedFMeasure(map), PolypMetrics.SMeasure(map),
            PolypMetrics.EMeasureAdaptive(map), e.Max(), e.Average(), PolypMetrics.Mae(map), f?.AdaptiveF ?? 0,
            PolypMetrics.Ber(map), PolypMetrics.Accuracy(map), PolypMetrics.Hd95(map), PolypMetrics.Asd(map));
        lock (_images)
        {
            _images.Add(scores);
            _fRows.Add(f);
            _eCurves.Add(e);
        }
        return scores;
    }

    public DatasetScores Result()
    {
        var n = _images.Count;
        if (n == 0) throw new InvalidOperationException($"dataset {Dataset} has no scored image");
        double Mean(Func<ImageScores, double> metric) => NumpySum.Mean(_images.Select(metric).ToArray());

        // Precision and recall curves averaged over images (an empty ground truth adds a zero row).
        var p = new double[255];
        var r = new double[255];
        foreach (var row in _fRows)
        {
            if (row is null) continue;
            for (var k = 0; k < 255; k++)
            {
                p[k] += row.Precision[k];
                r[k] += row.Recall[k];
            }
        }
        var maxF = double.NegativeInfinity;
        for (var k = 0; k < 255; k++)
        {
            var pk = p[k] / n;
            var rk = r[k] / n;
            maxF = Math.Max(maxF, 1.3 * pk * rk / (0.3 * pk + rk + 1e-8));
        }
        var eCurve = new double[256];
        foreach (var curve in _eCurves)
        {
            for (var k = 0; k < 256; k++) eCurve[k] += curve[k] / n;
        }
        var boundary = _images.Where(i => !double.IsNaN(i.Hd95)).ToList();
        return new DatasetScores(Dataset, n, Mean(i => i.Dice), Mean(i => i.IoU), Mean(i => i.WeightedF), Mean(i => i.SMeasure),
            Mean(i => i.EMeasureAdaptive), eCurve.Max(), eCurve.Average(), Mean(i => i.Mae), maxF, Mean(i => i.AdaptiveF),
            Mean(i => i.Ber), Mean(i => i.Accuracy),
            boundary.Count > 0 ? boundary.Average(i => i.Hd95) : double.NaN,
            boundary.Count > 0 ? boundary.Average(i => i.Asd) : double.NaN, boundary.Count);
    }
}
