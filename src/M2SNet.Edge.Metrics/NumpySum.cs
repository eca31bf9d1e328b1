namespace M2SNet.Edge.Metrics;

/// <summary>
/// Sums in numpy's order (pairwise within blocks of 8192 elements, blocks added in turn), so
/// means and thresholds derived from them round exactly as the reference evaluation does.
/// </summary>
internal static class NumpySum
{
    private const int Block = 8192;

    public static double Sum(ReadOnlySpan<double> values)
    {
        double acc = 0;
        for (var start = 0; start < values.Length; start += Block)
        {
            acc += Pairwise(values.Slice(start, Math.Min(Block, values.Length - start)));
        }
        return acc;
    }

    public static double Mean(ReadOnlySpan<double> values) => Sum(values) / values.Length;

    public static float Sum(ReadOnlySpan<float> values)
    {
        float acc = 0;
        for (var start = 0; start < values.Length; start += Block)
        {
            acc += Pairwise(values.Slice(start, Math.Min(Block, values.Length - start)));
        }
        return acc;
    }

    private static double Pairwise(ReadOnlySpan<double> a)
    {
        var n = a.Length;
        if (n < 8)
        {
            var s = -0.0;
            foreach (var v in a) s += v;
            return s;
        }
        if (n <= 128)
        {
            double r0 = a[0], r1 = a[1], r2 = a[2], r3 = a[3], r4 = a[4], r5 = a[5], r6 = a[6], r7 = a[7];
            int i;
            for (i = 8; i < n - n % 8; i += 8)
            {
                r0 += a[i]; r1 += a[i + 1]; r2 += a[i + 2]; r3 += a[i + 3];
                r4 += a[i + 4]; r5 += a[i + 5]; r6 += a[i + 6]; r7 += a[i + 7];
            }
            var res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7));
            for (; i < n; i++) res += a[i];
            return res;
        }
        var n2 = n / 2;
        n2 -= n2 % 8;
        return Pairwise(a[..n2]) + Pairwise(a[n2..]);
    }

    private static float Pairwise(ReadOnlySpan<float> a)
    {
        var n = a.Length;
        if (n < 8)
        {
            var s = -0.0f;
            foreach (var v in a) s += v;
            return s;
        }
        if (n <= 128)
        {
            float r0 = a[0], r1 = a[1], r2 = a[2], r3 = a[3], r4 = a[4], r5 = a[5], r6 = a[6], r7 = a[7];
            int i;
            for (i = 8; i < n - n % 8; i += 8)
            {
                r0 += a[i]; r1 += a[i + 1]; r2 += a[i + 2]; r3 += a[i + 3];
                r4 += a[i + 4]; r5 += a[i + 5]; r6 += a[i + 6]; r7 += a[i + 7];
            }
            var res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7));
            for (; i < n; i++) res += a[i];
            return res;
        }
        var n2 = n / 2;
        n2 -= n2 % 8;
        return Pairwise(a[..n2]) + Pairwise(a[n2..]);
    }
}
