using System.Text.Json;
using M2SNet.Edge.TestSupport;

namespace M2SNet.Edge.Metrics.Tests;

/// <summary>Every metric against the authors' metric code on the fixtures, to 1e-6.</summary>
public sealed class ReferenceMetricTests
{
    private const int Images = 6, H = 64, W = 80;
    private const double Tolerance = 1e-6;

    private static readonly JsonElement s_reference = Reference.Json("metrics.json");

    public static TheoryData<string, Func<ImageScores, double>> PerImageMetrics => new()
    {
        { "mDice", s => s.Dice },
        { "mIoU", s => s.IoU },
        { "wFmeasure", s => s.WeightedF },
        { "Smeasure", s => s.SMeasure },
        { "Emeasure_adaptive", s => s.EMeasureAdaptive },
        { "MAE", s => s.Mae },
        { "meanFmeasure_adaptive", s => s.AdaptiveF },
        { "BER", s => s.Ber },
        { "Acc", s => s.Accuracy },
    };

    [Theory]
    [MemberData(nameof(PerImageMetrics))]
    public void Per_image_scores_match(string metric, Func<ImageScores, double> select)
    {
        var scores = Score(Maps(viaPng: false)).Images;

        var expected = s_reference.GetProperty("per_image").GetProperty(metric);
        for (var i = 0; i < Images; i++) AssertClose(Value(expected[i]), select(scores[i]), $"{metric} image {i}");
    }

    [Theory]
    [MemberData(nameof(PerImageMetrics))]
    public void Per_image_scores_match_through_8_bit_PNG_predictions(string metric, Func<ImageScores, double> select)
    {
        var scores = Score(Maps(viaPng: true)).Images;

        var expected = s_reference.GetProperty("via_png_uint8").GetProperty("per_image").GetProperty(metric);
        for (var i = 0; i < Images; i++) AssertClose(Value(expected[i]), select(scores[i]), $"{metric} image {i} (PNG)");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Dataset_aggregates_match_including_max_F_from_the_averaged_curves(bool viaPng)
    {
        var result = Score(Maps(viaPng)).Result();

        var expected = (viaPng ? s_reference.GetProperty("via_png_uint8") : s_reference).GetProperty("aggregate");
        AssertClose(Value(expected.GetProperty("mDice")), result.MDice, "mDice");
        AssertClose(Value(expected.GetProperty("mIoU")), result.MIoU, "mIoU");
        AssertClose(Value(expected.GetProperty("wFmeasure")), result.WeightedF, "wFmeasure");
        AssertClose(Value(expected.GetProperty("Smeasure")), result.SMeasure, "Smeasure");
        AssertClose(Value(expected.GetProperty("Emeasure_adaptive")), result.EMeasureAdaptive, "Emeasure");
        AssertClose(Value(expected.GetProperty("MAE")), result.Mae, "MAE");
        AssertClose(Value(expected.GetProperty("maxFmeasure")), result.MaxF, "maxF");
        AssertClose(Value(expected.GetProperty("meanFmeasure_adaptive")), result.MeanF, "meanF");
        AssertClose(Value(expected.GetProperty("Acc")), result.Accuracy, "Acc");
        Assert.True(double.IsNaN(result.Ber), "an empty ground truth makes the dataset BER NaN, as in the reference");
    }

    [Fact]
    public void Averaged_precision_and_recall_curves_match_point_by_point()
    {
        var acc = Score(Maps(viaPng: false));
        var rows = Maps(viaPng: false).Select(PolypMetrics.FMeasure).ToList();

        var curves = s_reference.GetProperty("fmeasure_curves");
        var p = curves.GetProperty("precision_mean");
        var r = curves.GetProperty("recall_mean");
        for (var k = 0; k < 255; k++)
        {
            AssertClose(p[k].GetDouble(), rows.Sum(row => row?.Precision[k] ?? 0) / Images, $"precision[{k}]");
            AssertClose(r[k].GetDouble(), rows.Sum(row => row?.Recall[k] ?? 0) / Images, $"recall[{k}]");
        }
        Assert.NotNull(acc);
    }

    [Fact]
    public void All_zero_prediction_on_an_empty_ground_truth_scores_as_the_reference()
    {
        var map = SegmentationMap.Prepare(new float[H * W], new float[H * W], H, W);
        var acc = new MetricAccumulator("edge");
        var s = acc.Add("zero", map);

        var expected = s_reference.GetProperty("edge_all_zero_pred_and_gt").GetProperty("per_image");
        AssertClose(Value(expected.GetProperty("mDice")[0]), s.Dice, "Dice");
        AssertClose(Value(expected.GetProperty("mIoU")[0]), s.IoU, "IoU");
        AssertClose(Value(expected.GetProperty("wFmeasure")[0]), s.WeightedF, "wFm");
        AssertClose(Value(expected.GetProperty("Smeasure")[0]), s.SMeasure, "Sm");
        AssertClose(Value(expected.GetProperty("Emeasure_adaptive")[0]), s.EMeasureAdaptive, "Em");
        AssertClose(Value(expected.GetProperty("MAE")[0]), s.Mae, "MAE");
        AssertClose(Value(expected.GetProperty("Acc")[0]), s.Accuracy, "Acc");
        Assert.True(double.IsNaN(s.Ber));
        AssertClose(0, acc.Result().MaxF, "maxF");
    }

    [Fact]
    public void S_measure_rounds_the_centroid_half_to_even()
    {
        var maps = Maps(viaPng: false);

        var s = PolypMetrics.SMeasure(maps[2]); // GT centroid exactly (24.5, 34.5)

        AssertClose(s_reference.GetProperty("sensitivity_probes").GetProperty("Smeasure_image2_round_half_even_(reference)").GetDouble(), s, "Sm image 2");
    }

    private static MetricAccumulator Score(IReadOnlyList<SegmentationMap> maps)
    {
        var acc = new MetricAccumulator("fixtures");
        for (var i = 0; i < maps.Count; i++) acc.Add($"image{i}", maps[i]);
        return acc;
    }

    /// <summary>The fixture maps, prepared as test_score.py does (optionally through 8-bit PNG predictions).</summary>
    internal static IReadOnlyList<SegmentationMap> Maps(bool viaPng)
    {
        var pred = Reference.Float32("metrics_pred.bin");
        var gt = Reference.Float32("metrics_gt.bin");
        var maps = new List<SegmentationMap>();
        for (var i = 0; i < Images; i++)
        {
            var p = pred.AsSpan(i * H * W, H * W).ToArray();
            if (viaPng)
            {
                // torchvision's ToPILImage: uint8(float32(p) * 255f), truncated.
                for (var k = 0; k < p.Length; k++) p[k] = (byte)(p[k] * 255f);
            }
            maps.Add(SegmentationMap.Prepare(p, gt.AsSpan(i * H * W, H * W), H, W));
        }
        return maps;
    }

    private static double Value(JsonElement e) => e.ValueKind == JsonValueKind.String
        ? e.GetString() switch { "NaN" => double.NaN, "Infinity" => double.PositiveInfinity, var s => throw new FormatException(s) }
        : e.GetDouble();

    private static void AssertClose(double expected, double actual, string what)
    {
        if (double.IsNaN(expected))
        {
            Assert.True(double.IsNaN(actual), $"{what}: expected NaN, got {actual:R}");
            return;
        }
        Assert.True(Math.Abs(expected - actual) <= Tolerance, $"{what}: expected {expected:R}, got {actual:R} (diff {Math.Abs(expected - actual):E2})");
    }
}
