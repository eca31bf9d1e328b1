namespace M2SNet.Edge.Metrics.Tests;

public sealed class FeatureTransformTests
{
    [Fact]
    public void Nearest_features_follow_scipys_documented_example()
    {
        // scipy.ndimage.distance_transform_edt's documented example: features are the zeros.
        int[,] input =
        {
            { 0, 1, 1, 1, 1 },
            { 0, 0, 1, 1, 1 },
            { 0, 1, 1, 1, 1 },
            { 0, 1, 1, 1, 0 },
            { 0, 1, 1, 0, 0 },
        };
        var features = new bool[25];
        for (var r = 0; r < 5; r++)
        for (var c = 0; c < 5; c++) features[r * 5 + c] = input[r, c] == 0;

        var (rows, cols) = FeatureTransform.Nearest(features, 5, 5);

        Assert.Equal([0, 0, 1, 1, 3, 1, 1, 1, 1, 3, 2, 2, 1, 3, 3, 3, 3, 4, 4, 3, 4, 4, 4, 4, 4], rows);
        Assert.Equal([0, 0, 1, 1, 4, 0, 1, 1, 1, 4, 0, 0, 1, 4, 4, 0, 0, 3, 3, 4, 0, 0, 3, 3, 4], cols);
    }

    [Fact]
    public void Distances_are_exact_euclidean()
    {
        var features = new bool[7 * 9];
        features[0] = true; // (0, 0)

        var (rows, cols) = FeatureTransform.Nearest(features, 7, 9);
        var d = FeatureTransform.Distances(rows, cols, 7, 9);

        Assert.Equal(5.0, d[3 * 9 + 4]);
        Assert.Equal(Math.Sqrt(6 * 6 + 8 * 8), d[6 * 9 + 8]);
    }
}

public sealed class BoundaryDistanceTests
{
    private static SegmentationMap Map(int h, int w, Func<int, int, bool> pred, Func<int, int, bool> gt)
    {
        var p = new double[h * w];
        var g = new double[h * w];
        for (var r = 0; r < h; r++)
        for (var c = 0; c < w; c++)
        {
            p[r * w + c] = pred(r, c) ? 1 : 0;
            g[r * w + c] = gt(r, c) ? 1 : 0;
        }
        return SegmentationMap.FromPrepared(p, g, h, w);
    }

    [Fact]
    public void A_perfect_prediction_has_zero_boundary_distance()
    {
        var m = Map(32, 32, (r, c) => r is > 5 and < 20 && c is > 8 and < 25, (r, c) => r is > 5 and < 20 && c is > 8 and < 25);

        Assert.Equal(0, PolypMetrics.Hd95(m));
        Assert.Equal(0, PolypMetrics.Asd(m));
    }

    [Fact]
    public void Two_single_pixels_are_as_far_apart_as_their_centres()
    {
        var m = Map(20, 20, (r, c) => r == 2 && c == 3, (r, c) => r == 5 && c == 7);

        Assert.Equal(5, PolypMetrics.Hd95(m));
        Assert.Equal(5, PolypMetrics.Asd(m));
    }

    [Fact]
    public void A_shifted_square_is_bounded_by_the_shift()
    {
        var m = Map(40, 40, (r, c) => r is >= 10 and < 20 && c is >= 13 and < 23, (r, c) => r is >= 10 and < 20 && c is >= 10 and < 20);

        var hd = PolypMetrics.Hd95(m);
        var asd = PolypMetrics.Asd(m);

        Assert.InRange(hd, 1, 3);
        Assert.InRange(asd, 0.1, hd);
    }

    [Fact]
    public void An_empty_mask_has_no_boundary_distance()
    {
        var m = Map(16, 16, (_, _) => false, (r, c) => r == 3 && c == 3);

        Assert.True(double.IsNaN(PolypMetrics.Hd95(m)));
        Assert.True(double.IsNaN(PolypMetrics.Asd(m)));
    }
}
