namespace M2SNet.Edge.Metrics;

/// <summary>
/// The exact Euclidean feature transform of a 2-D mask: for every pixel, the coordinates of its
/// nearest feature pixel. Computed with the separable algorithm of Maurer, Qi and Raghavan (2003)
/// in the order scipy.ndimage.distance_transform_edt uses (a pass down every column, then along
/// every row, candidates scanned upward), so that among equidistant features the same one is
/// chosen: then the metrics that depend on it (weighted F) agree to the last digit.
/// </summary>
public static class FeatureTransform
{
    /// <param name="isFeature">Row-major H×W; true marks a feature pixel.</param>
    /// <returns>Row and column of each pixel's nearest feature (−1, 0 where the mask has none).</returns>
    public static (int[] Rows, int[] Cols) Nearest(ReadOnlySpan<bool> isFeature, int height, int width)
    {
        var rows = new int[height * width];
        var cols = new int[height * width];
        var length = Math.Max(height, width);
        var f0 = new long[length];
        var f1 = new long[length];
        var stack = new int[length];

        // Pass along axis 0: every column, its features only.
        for (var c = 0; c < width; c++)
        {
            for (var r = 0; r < height; r++)
            {
                var i = r * width + c;
                if (isFeature[i])
                {
                    rows[i] = r;
                    cols[i] = c;
                }
                else
                {
                    rows[i] = -1;
                }
            }
            Voronoi(rows, cols, start: c, stride: width, count: height, lineAxis: 0, fixedCoordinate: c, f0, f1, stack);
        }
        // Pass along axis 1: every row, the per-column nearest features as candidates.
        for (var r = 0; r < height; r++)
        {
            Voronoi(rows, cols, start: r * width, stride: 1, count: width, lineAxis: 1, fixedCoordinate: r, f0, f1, stack);
        }
        return (rows, cols);
    }

    /// <summary>Distance from each pixel to its nearest feature (0 on features).</summary>
    public static double[] Distances(int[] rows, int[] cols, int height, int width)
    {
        var d = new double[height * width];
        for (var r = 0; r < height; r++)
        {
            for (var c = 0; c < width; c++)
            {
                var i = r * width + c;
                double dr = rows[i] - r, dc = cols[i] - c;
                d[i] = Math.Sqrt(dr * dr + dc * dc);
            }
        }
        return d;
    }

    /// <summary>The lower envelope of the candidates' distance parabolas along one line, then a monotone query.</summary>
    private static void Voronoi(int[] rows, int[] cols, int start, int stride, int count, int lineAxis, int fixedCoordinate,
        long[] f0, long[] f1, int[] g)
    {
        for (var i = 0; i < count; i++)
        {
            f0[i] = rows[start + i * stride];
            f1[i] = cols[start + i * stride];
        }
        long Along(int k) => lineAxis == 0 ? f0[k] : f1[k];
        long Across(int k) => lineAxis == 0 ? f1[k] : f0[k];

        var l = -1;
        for (var i = 0; i < count; i++)
        {
            if (f0[i] < 0) continue;
            double xw = Along(i);
            var dw = (double)(Across(i) - fixedCoordinate);
            var wR = dw * dw;
            while (l >= 1)
            {
                int v = g[l], u = g[l - 1];
                double a = Along(v) - Along(u);
                var b = xw - Along(v);
                var c = a + b;
                var du = (double)(Across(u) - fixedCoordinate);
                var dv = (double)(Across(v) - fixedCoordinate);
                var uR = du * du;
                var vR = dv * dv;
                if (c * vR - b * uR - a * wR - a * b * c <= 0) break;
                l--;
            }
            g[++l] = i;
        }
        var maxl = l;
        if (maxl < 0) return;

        double Delta(int k, int position)
        {
            double along = Along(k) - position, across = Across(k) - fixedCoordinate;
            // Components in order 0 then 1, as scipy adds them.
            return lineAxis == 0 ? 0.0 + along * along + across * across : 0.0 + across * across + along * along;
        }

        l = 0;
        for (var i = 0; i < count; i++)
        {
            var d1 = Delta(g[l], i);
            while (l < maxl)
            {
                var d2 = Delta(g[l + 1], i);
                if (d1 <= d2) break;
                d1 = d2;
                l++;
            }
            rows[start + i * stride] = (int)f0[g[l]];
            cols[start + i * stride] = (int)f1[g[l]];
        }
    }
}
