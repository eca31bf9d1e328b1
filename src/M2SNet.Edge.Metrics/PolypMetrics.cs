namespace M2SNet.Edge.Metrics;

/// <summary>
/// Per-image metrics of the polyp benchmark, each computed as the authors' utils/metric.py
/// computes it (thresholds, epsilons, float32 steps and degenerate cases included), plus the
/// E-measure over all thresholds and two boundary distances (HD95, ASD) of our own.
/// All take a map prepared by <see cref="SegmentationMap.Prepare"/>.
/// </summary>
public static class PolypMetrics
{
    /// <summary>Mean absolute error.</summary>
    public static double Mae(SegmentationMap m)
    {
        var e = new double[m.Count];
        for (var i = 0; i < e.Length; i++) e[i] = Math.Abs(m.Prediction[i] - m.GroundTruth[i]);
        return NumpySum.Mean(e);
    }

    /// <summary>Soft Dice on the continuous prediction: (2·Σpg + 1e-5) / (Σg + Σp + 1e-5).</summary>
    public static double Dice(SegmentationMap m)
    {
        var product = new double[m.Count];
        for (var i = 0; i < product.Length; i++) product[i] = m.GroundTruth[i] * m.Prediction[i];
        var inter = NumpySum.Sum(product);
        return (2 * inter + 1e-5) / (GroundTruthCount(m) + NumpySum.Sum(m.Prediction) + 1e-5);
    }

    /// <summary>Hard IoU: prediction &gt; 0.5 (strict) against ground truth, (∩ + 1e-5) / (∪ + 1e-5).</summary>
    public static double IoU(SegmentationMap m)
    {
        double inter = 0, union = 0;
        for (var i = 0; i < m.Count; i++)
        {
            var p = m.Prediction[i] > 0.5;
            var g = m.GroundTruth[i] > 0.5;
            if (p && g) inter++;
            if (p || g) union++;
        }
        return (inter + 1e-5) / (union + 1e-5);
    }

    /// <summary>Balanced error rate at prediction ≥ 0.5; NaN when the ground truth is empty or full (0/0, as the reference).</summary>
    public static double Ber(SegmentationMap m)
    {
        var (tp, tn, np, nn) = Confusion(m);
        return 1 - (tp / np + tn / nn) / 2;
    }

    /// <summary>Pixel accuracy at prediction ≥ 0.5.</summary>
    public static double Accuracy(SegmentationMap m)
    {
        var (tp, tn, np, nn) = Confusion(m);
        return (tp + tn) / (np + nn);
    }

    /// <summary>Structure measure S_α with α = 0.5 (object- and region-aware similarity).</summary>
    public static double SMeasure(SegmentationMap m)
    {
        var g = m.GroundTruth;
        var ybar = GroundTruthCount(m) / m.Count;
        if (ybar == 0) return 1 - NumpySum.Mean(m.Prediction);
        if (ybar == 1) return NumpySum.Mean(m.Prediction);
        return 0.5 * ObjectScore(m, ybar) + 0.5 * RegionScore(m);

        static double ObjectScore(SegmentationMap m, double u)
        {
            var fg = new List<double>();
            var bg = new List<double>();
            for (var i = 0; i < m.Count; i++)
            {
                if (m.GroundTruth[i] > 0.5) fg.Add(m.Prediction[i]);
                else bg.Add(1 - m.Prediction[i]);
            }
            return u * O([.. fg]) + (1 - u) * O([.. bg]);
        }

        static double O(double[] v)
        {
            var mean = NumpySum.Mean(v);
            var std = Math.Sqrt(Variance(v, mean));
            return 2 * mean / (mean * mean + 1 + std + 1e-8);
        }
    }

    /// <summary>E-measure at the adaptive threshold t = min(2·mean(p), 1), p ≥ t: the reference's "Em".</summary>
    public static double EMeasureAdaptive(SegmentationMap m)
    {
        var threshold = Math.Min(2 * NumpySum.Mean(m.Prediction), 1);
        return EMeasureAt(m, threshold);
    }

    /// <summary>E-measure at each of the 256 thresholds k/255 (p ≥ t), k = 0..255.</summary>
    public static double[] EMeasureCurve(SegmentationMap m)
    {
        var curve = new double[256];
        for (var k = 0; k <= 255; k++) curve[k] = EMeasureAt(m, k / 255.0);
        return curve;
    }

    /// <summary>Enhanced-alignment measure of the foreground map p ≥ t against the ground truth.</summary>
    public static double EMeasureAt(SegmentationMap m, double threshold)
    {
        int h = m.Height, w = m.Width, n = m.Count;
        var fm = new double[n];
        double fmCount = 0;
        for (var i = 0; i < n; i++)
        {
            fm[i] = m.Prediction[i] >= threshold ? 1 : 0;
            fmCount += fm[i];
        }
        var gtCount = GroundTruthCount(m);
        var enhanced = new double[n];
        if (gtCount == 0)
        {
            for (var i = 0; i < n; i++) enhanced[i] = 1 - fm[i];
        }
        else if (gtCount == n)
        {
            Array.Copy(fm, enhanced, n);
        }
        else
        {
            var muF = fmCount / n;
            var muG = gtCount / n;
            for (var i = 0; i < n; i++)
            {
                var aF = fm[i] - muF;
                var aG = m.GroundTruth[i] - muG;
                var align = 2 * (aG * aF) / (aG * aG + aF * aF + 1e-8);
                var a1 = align + 1;
                enhanced[i] = a1 * a1 / 4;
            }
        }
        // Python's builtin sum over the 2-D array: column sums down the rows, then across.
        var columns = new double[w];
        for (var r = 0; r < h; r++)
        {
            for (var c = 0; c < w; c++) columns[c] += enhanced[r * w + c];
        }
        double total = 0;
        foreach (var c in columns) total += c;
        return total / (n - 1 + 1e-8);
    }

    /// <summary>Per-image F-measure parts: the adaptive-threshold F (β² = 0.3) and the 255-point precision/recall rows; null for an empty ground truth.</summary>
    public static FMeasureRow? FMeasure(SegmentationMap m)
    {
        var gtCount = GroundTruthCount(m);
        if (gtCount == 0) return null;
        var threshold = Math.Min(2 * NumpySum.Mean(m.Prediction), 1);
        double tp = 0, predicted = 0;
        for (var i = 0; i < m.Count; i++)
        {
            if (m.Prediction[i] < threshold) continue;
            predicted++;
            if (m.GroundTruth[i] > 0.5) tp++;
        }
        double meanF = 0;
        if (tp != 0)
        {
            var pre = tp / predicted;
            var rec = tp / gtCount;
            meanF = 1.3 * pre * rec / (0.3 * pre + rec);
        }

        // Histograms of the 8-bit levels (truncated), 255 bins with 254 and 255 sharing the last.
        var target = new long[255];
        var nontarget = new long[255];
        for (var i = 0; i < m.Count; i++)
        {
            var level = Math.Min((int)(m.Prediction[i] * 255), 254);
            if (m.GroundTruth[i] > 0.5) target[level]++;
            else nontarget[level]++;
        }
        var precision = new double[255];
        var recall = new double[255];
        long th = 0, nh = 0;
        for (var k = 0; k < 255; k++)
        {
            th += target[254 - k];
            nh += nontarget[254 - k];
            precision[k] = th / ((double)(th + nh) + 1e-8);
            recall[k] = th / gtCount;
        }
        return new FMeasureRow(meanF, precision, recall);
    }

    /// <summary>Weighted F-measure F^w_β (Margolin et al. 2014) with β = 1; 0 for an empty ground truth.</summary>
    public static double WeightedFMeasure(SegmentationMap m)
    {
        int h = m.Height, w = m.Width, n = m.Count;
        var g = new bool[n];
        var any = false;
        for (var i = 0; i < n; i++)
        {
            g[i] = m.GroundTruth[i] > 0.5;
            any |= g[i];
        }
        if (!any) return 0;

        var (rows, cols) = FeatureTransform.Nearest(g, h, w);
        var dst = FeatureTransform.Distances(rows, cols, h, w);
        var e = new double[n];
        for (var i = 0; i < n; i++) e[i] = Math.Abs(m.Prediction[i] - (g[i] ? 1 : 0));
        // Each background pixel takes the error of its nearest foreground pixel.
        var et = (double[])e.Clone();
        for (var i = 0; i < n; i++)
        {
            if (!g[i]) et[i] = e[rows[i] * w + cols[i]];
        }
        var ea = Smooth(et, h, w);
        var ew = new double[n];
        var weight = Math.Log(0.5) / 5;
        var fg = new List<double>();
        var bgSum = new List<double>();
        for (var i = 0; i < n; i++)
        {
            var minE = g[i] && ea[i] < e[i] ? ea[i] : e[i];
            var b = g[i] ? 1 : 2 - Math.Exp(weight * dst[i]);
            ew[i] = minE * b;
            if (g[i]) fg.Add(ew[i]);
            else bgSum.Add(ew[i]);
        }
        var fgValues = fg.ToArray();
        var tpw = fgValues.Length - NumpySum.Sum(fgValues);
        var fpw = NumpySum.Sum(bgSum.ToArray());
        var r = 1 - NumpySum.Mean(fgValues);
        const double eps = 1e-6;
        var p = tpw / (eps + tpw + fpw);
        return 2 * r * p / (eps + r + p);
    }

    /// <summary>95th percentile of the boundary distances in both directions (prediction ≥ 0.5); NaN if either mask is empty.</summary>
    public static double Hd95(SegmentationMap m)
    {
        var (ab, ba) = SurfaceDistances(m);
        if (ab is null || ba is null) return double.NaN;
        return Percentile([.. ab, .. ba], 95);
    }

    /// <summary>Average symmetric surface distance (mean of the two directed means); NaN if either mask is empty.</summary>
    public static double Asd(SegmentationMap m)
    {
        var (ab, ba) = SurfaceDistances(m);
        if (ab is null || ba is null) return double.NaN;
        return (ab.Average() + ba.Average()) / 2;
    }

    private static (double[]? PredictionToTruth, double[]? TruthToPrediction) SurfaceDistances(SegmentationMap m)
    {
        var pred = new bool[m.Count];
        var gt = new bool[m.Count];
        for (var i = 0; i < m.Count; i++)
        {
            pred[i] = m.Prediction[i] >= 0.5;
            gt[i] = m.GroundTruth[i] > 0.5;
        }
        var sp = Surface(pred, m.Height, m.Width);
        var sg = Surface(gt, m.Height, m.Width);
        if (!sp.Contains(true) || !sg.Contains(true)) return (null, null);
        return (DirectedDistances(sp, sg, m.Height, m.Width), DirectedDistances(sg, sp, m.Height, m.Width));
    }

    /// <summary>Mask pixels with a 4-neighbour outside the mask (or on the image border).</summary>
    private static bool[] Surface(bool[] mask, int h, int w)
    {
        var s = new bool[mask.Length];
        for (var r = 0; r < h; r++)
        {
            for (var c = 0; c < w; c++)
            {
                var i = r * w + c;
                if (!mask[i]) continue;
                s[i] = r == 0 || c == 0 || r == h - 1 || c == w - 1
                    || !mask[i - w] || !mask[i + w] || !mask[i - 1] || !mask[i + 1];
            }
        }
        return s;
    }

    private static double[] DirectedDistances(bool[] from, bool[] to, int h, int w)
    {
        var (rows, cols) = FeatureTransform.Nearest(to, h, w);
        var d = FeatureTransform.Distances(rows, cols, h, w);
        var result = new List<double>();
        for (var i = 0; i < from.Length; i++)
        {
            if (from[i]) result.Add(d[i]);
        }
        return [.. result];
    }

    /// <summary>numpy's default percentile: linear interpolation between the closest ranks.</summary>
    internal static double Percentile(double[] values, double p)
    {
        Array.Sort(values);
        var rank = p / 100 * (values.Length - 1);
        var lo = (int)Math.Floor(rank);
        var hi = Math.Min(lo + 1, values.Length - 1);
        return values[lo] + (values[hi] - values[lo]) * (rank - lo);
    }

    /// <summary>The 7×7 Gaussian (σ = 5) of MATLAB's fspecial, applied as scipy.ndimage.convolve with zero padding.</summary>
    private static double[] Smooth(double[] values, int h, int w)
    {
        var kernel = Kernel;
        var result = new double[values.Length];
        for (var i = 0; i < h; i++)
        {
            for (var j = 0; j < w; j++)
            {
                var acc = 0.0;
                for (var p = 0; p < 7; p++)
                {
                    var r = i + p - 3;
                    if (r < 0 || r >= h) continue;
                    for (var q = 0; q < 7; q++)
                    {
                        var c = j + q - 3;
                        if (c < 0 || c >= w) continue;
                        acc += kernel[p * 7 + q] * values[r * w + c];
                    }
                }
                result[i * w + j] = acc;
            }
        }
        return result;
    }

    private static readonly double[] Kernel = GaussianKernel();

    private static double[] GaussianKernel()
    {
        var k = new double[49];
        for (var a = 0; a < 7; a++)
        {
            for (var b = 0; b < 7; b++)
            {
                double y = a - 3, x = b - 3;
                k[a * 7 + b] = Math.Exp(-(x * x + y * y) / 50.0);
            }
        }
        var sum = NumpySum.Sum(k);
        for (var i = 0; i < k.Length; i++) k[i] /= sum;
        return k;
    }

    private static (double Tp, double Tn, double Np, double Nn) Confusion(SegmentationMap m)
    {
        double tp = 0, tn = 0, np = 0, nn = 0;
        for (var i = 0; i < m.Count; i++)
        {
            var p = m.Prediction[i] >= 0.5;
            var g = m.GroundTruth[i] > 0.5;
            if (g) np++;
            else nn++;
            if (p && g) tp++;
            if (!p && !g) tn++;
        }
        return (tp, tn, np, nn);
    }

    private static double GroundTruthCount(SegmentationMap m)
    {
        double n = 0;
        foreach (var g in m.GroundTruth) n += g;
        return n;
    }

    private static double Variance(double[] v, double mean)
    {
        var sq = new double[v.Length];
        for (var i = 0; i < v.Length; i++)
        {
            var d = v[i] - mean;
            sq[i] = d * d;
        }
        return NumpySum.Sum(sq) / v.Length;
    }

    /// <summary>Region-aware part of S: four quadrants split at the ground truth's centroid, weighted SSIM.</summary>
    private static double RegionScore(SegmentationMap m)
    {
        int h = m.Height, w = m.Width;
        double sumR = 0, sumC = 0, count = 0;
        for (var r = 0; r < h; r++)
        {
            for (var c = 0; c < w; c++)
            {
                if (m.GroundTruth[r * w + c] <= 0.5) continue;
                sumR += r;
                sumC += c;
                count++;
            }
        }
        var y = (int)Math.Round(sumR / count, MidpointRounding.ToEven) + 1;
        var x = (int)Math.Round(sumC / count, MidpointRounding.ToEven) + 1;
        double area = h * w;
        var w1 = x * y / area;
        var w2 = y * (w - x) / area;
        var w3 = (h - y) * x / area;
        var w4 = (h - y) * (w - x) / area;
        return w1 * Ssim(m, 0, y, 0, x) + w2 * Ssim(m, 0, y, x, w) + w3 * Ssim(m, y, h, 0, x) + w4 * Ssim(m, y, h, x, w);
    }

    /// <summary>SSIM of one quadrant (rows [r0, r1) × cols [c0, c1)); the ground truth's statistics in float32, as the reference.</summary>
    private static double Ssim(SegmentationMap m, int r0, int r1, int c0, int c1)
    {
        var nq = (r1 - r0) * (c1 - c0);
        if (nq == 0) return double.NaN; // an empty quadrant: the reference's means are NaN
        var pred = new double[nq];
        var gt = new float[nq];
        var k = 0;
        for (var r = r0; r < r1; r++)
        {
            for (var c = c0; c < c1; c++)
            {
                pred[k] = m.Prediction[r * m.Width + c];
                gt[k++] = m.GroundTruth[r * m.Width + c] > 0.5 ? 1f : 0f;
            }
        }
        var xbar = NumpySum.Mean(pred);
        var ybar = (float)((double)NumpySum.Sum(gt) / nq);
        var sigmaX = Variance(pred, xbar);
        var dev = new float[nq];
        for (var i = 0; i < nq; i++)
        {
            var d = gt[i] - ybar;
            dev[i] = d * d;
        }
        var sigmaY = (float)((double)NumpySum.Sum(dev) / nq);
        var cross = new double[nq];
        for (var i = 0; i < nq; i++) cross[i] = (pred[i] - xbar) * (double)(gt[i] - ybar);
        var sigmaXY = NumpySum.Sum(cross) / (nq - 1);
        var alpha = 4 * xbar * ybar * sigmaXY;
        var beta = (xbar * xbar + ybar * ybar) * (sigmaX + sigmaY);
        if (alpha != 0) return alpha / (beta + 1e-8);
        return beta == 0 ? 1 : 0;
    }
}

/// <summary>One image's part of the F-measure: its adaptive F and its precision/recall at the 255 levels.</summary>
public sealed record FMeasureRow(double AdaptiveF, double[] Precision, double[] Recall);
