using M2SNet.Edge.OpenCv;

namespace M2SNet.Edge.Training.Data;

/// <summary>
/// The papers' augmentation: random horizontal flip and random rotation (image and mask alike),
/// then ImageNet normalisation into planar float32. Multi-scale resizing happens per batch in the
/// trainer. Seeded: the same seed gives the same sequence of transforms.
/// </summary>
public sealed class Augmenter(int seed, float[] mean, float[] std, double flipProbability = 0.5, double rotationProbability = 0.5, double maxDegrees = 15)
{
    private readonly Random _rng = new(seed);
    private readonly Mat _image = new();
    private readonly Mat _mask = new();
    private readonly Mat _tmpImage = new();
    private readonly Mat _tmpMask = new();

    /// <summary>Writes one augmented sample: image [3, S, S] normalised, mask [S, S] in [0, 1].</summary>
    public void Apply(LoadedSample sample, Span<float> image, Span<float> mask, bool augment = true)
    {
        var s = sample.Size;
        var rgb = Load(_image, s, MatType.CV_8UC3, sample.Rgb);
        var m = Load(_mask, s, MatType.CV_8UC1, sample.Mask);
        if (augment)
        {
            if (_rng.NextDouble() < flipProbability)
            {
                Cv2.Flip(rgb, _tmpImage, FlipMode.Y);
                Cv2.Flip(m, _tmpMask, FlipMode.Y);
                (rgb, m) = (_tmpImage, _tmpMask);
            }
            if (_rng.NextDouble() < rotationProbability)
            {
                var angle = (_rng.NextDouble() * 2 - 1) * maxDegrees;
                var matrix = Cv2.GetRotationMatrix2D((s - 1) / 2.0, (s - 1) / 2.0, angle);
                var (dstImage, dstMask) = rgb == _image ? (_tmpImage, _tmpMask) : (_image, _mask);
                Cv2.WarpAffine(rgb, dstImage, matrix, new Size(s, s), InterpolationFlags.Linear);
                Cv2.WarpAffine(m, dstMask, matrix, new Size(s, s), InterpolationFlags.Linear);
                (rgb, m) = (dstImage, dstMask);
            }
        }
        Normalize(rgb.AsSpan<byte>(), m.AsSpan<byte>(), image, mask, s * s);
    }

    private void Normalize(ReadOnlySpan<byte> rgb, ReadOnlySpan<byte> m, Span<float> image, Span<float> mask, int plane)
    {
        var scale = new float[3];
        var offset = new float[3];
        for (var c = 0; c < 3; c++)
        {
            scale[c] = 1f / (255f * std[c]);
            offset[c] = mean[c] / std[c];
        }
        for (var i = 0; i < plane; i++)
        {
            image[i] = rgb[3 * i] * scale[0] - offset[0];
            image[plane + i] = rgb[3 * i + 1] * scale[1] - offset[1];
            image[2 * plane + i] = rgb[3 * i + 2] * scale[2] - offset[2];
            mask[i] = m[i] / 255f;
        }
    }

    private static Mat Load(Mat target, int size, MatType type, byte[] pixels)
    {
        target.Create(size, size, type);
        pixels.CopyTo(target.AsSpan<byte>());
        return target;
    }
}
