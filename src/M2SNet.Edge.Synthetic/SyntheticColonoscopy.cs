using M2SNet.Edge.OpenCv;

namespace M2SNet.Edge.Synthetic;

/// <summary>How synthetic colonoscopy frames look.</summary>
/// <param name="NoiseSigma">Sensor noise, in 8-bit levels.</param>
/// <param name="BlurSigma">Optical blur, in pixels at 352 pixels of width (scaled with the frame).</param>
/// <param name="EndoscopeBorder">Black outside the endoscope's field of view (an octagon), as real frames have.</param>
public sealed record SyntheticOptions(
    int Width = 352,
    int Height = 352,
    int MinPolyps = 1,
    int MaxPolyps = 2,
    double NoiseSigma = 5,
    double BlurSigma = 1.0,
    bool EndoscopeBorder = true);

/// <summary>
/// One synthetic scene: textured reddish mucosa with vessels, under the endoscope's light falloff,
/// with polyp-like blobs (shaded ellipses, paler and pinker than the wall) and specular highlights.
/// <see cref="Render"/> draws frame <c>t</c> with the polyps moved along their paths and the exact
/// mask of the polyps (255) inside the field of view. Everything follows from the seed.
/// </summary>
public sealed class SyntheticScene : IDisposable
{
    private readonly SyntheticOptions _options;
    private readonly Mat _background;
    private readonly Mat _fieldOfView;
    private readonly List<Polyp> _polyps = [];
    private readonly List<(double X, double Y, double Radius)> _highlights = [];
    private readonly int _seed;

    public SyntheticScene(int seed, SyntheticOptions? options = null)
    {
        _options = options ?? new SyntheticOptions();
        _seed = seed;
        var rng = new Random(seed);
        var (w, h) = (_options.Width, _options.Height);
        var unit = Math.Min(w, h) / 352.0;

        _fieldOfView = FieldOfView(w, h, _options.EndoscopeBorder);
        _background = Mucosa(rng, w, h, unit);

        var count = rng.Next(_options.MinPolyps, _options.MaxPolyps + 1);
        for (var i = 0; i < count; i++)
        {
            var size = Math.Min(w, h) * (0.06 + 0.16 * rng.NextDouble());
            _polyps.Add(new Polyp(
                X: w * (0.25 + 0.5 * rng.NextDouble()),
                Y: h * (0.25 + 0.5 * rng.NextDouble()),
                AxisA: size * (0.8 + 0.4 * rng.NextDouble()),
                AxisB: size * (0.6 + 0.4 * rng.NextDouble()),
                Angle: rng.NextDouble() * 180,
                Vx: (rng.NextDouble() - 0.5) * 3 * unit,
                Vy: (rng.NextDouble() - 0.5) * 3 * unit,
                Color: new Scalar(95 + rng.Next(40), 110 + rng.Next(50), 205 + rng.Next(45))));
        }
        for (var i = 0; i < 6 + rng.Next(8); i++)
        {
            _highlights.Add((w * rng.NextDouble(), h * rng.NextDouble(), (1.5 + 3 * rng.NextDouble()) * unit));
        }
    }

    public int Width => _options.Width;

    public int Height => _options.Height;

    /// <summary>Draws frame <paramref name="t"/> (BGR, 8 bit) and its mask (8 bit, 255 = lesion).</summary>
    public void Render(int t, Mat image, Mat mask)
    {
        var (w, h) = (_options.Width, _options.Height);
        var unit = Math.Min(w, h) / 352.0;
        _background.CopyTo(image);
        mask.Create(h, w, MatType.CV_8UC1);
        mask.SetTo(new Scalar(0));

        foreach (var p in _polyps)
        {
            var (x, y) = p.At(t, w, h);
            var center = new Point((int)x, (int)y);
            var axes = new Size((int)p.AxisA, (int)p.AxisB);
            Cv2.Ellipse(mask, center, axes, p.Angle, new Scalar(255), -1);
            // Shading: darker rim, lighter towards the light source (up-left), so the blob looks raised.
            Cv2.Ellipse(image, center, axes, p.Angle, Shade(p.Color, 0.72), -1, LineTypes.AntiAlias);
            for (var k = 1; k <= 4; k++)
            {
                var f = 1 - 0.18 * k;
                var c = new Point((int)(x - p.AxisA * 0.08 * k), (int)(y - p.AxisB * 0.08 * k));
                Cv2.Ellipse(image, c, new Size((int)(p.AxisA * f), (int)(p.AxisB * f)), p.Angle, Shade(p.Color, 0.78 + 0.07 * k), -1, LineTypes.AntiAlias);
            }
        }

        var jitter = new Random(_seed * 7919 + t);
        foreach (var (hx, hy, r) in _highlights)
        {
            var c = new Point((int)(hx + jitter.NextDouble() * 2 * unit), (int)(hy + jitter.NextDouble() * 2 * unit));
            Cv2.Circle(image, c, Math.Max(1, (int)r), new Scalar(250, 250, 255), -1, LineTypes.AntiAlias);
        }

        var blur = _options.BlurSigma * unit;
        if (blur > 0)
        {
            var k = 2 * (int)Math.Ceiling(3 * blur) + 1;
            Cv2.GaussianBlur(image, image, new Size(k, k), blur);
        }
        AddNoise(image, new Random(_seed * 104_729 + t), _options.NoiseSigma);
        ApplyFieldOfView(image, mask);
    }

    public void Dispose()
    {
        _background.Dispose();
        _fieldOfView.Dispose();
    }

    private void ApplyFieldOfView(Mat image, Mat mask)
    {
        var fov = _fieldOfView.AsSpan<byte>();
        var pixels = image.AsSpan<byte>();
        var m = mask.AsSpan<byte>();
        for (var i = 0; i < fov.Length; i++)
        {
            if (fov[i] != 0) continue;
            pixels[3 * i] = pixels[3 * i + 1] = pixels[3 * i + 2] = 0;
            m[i] = 0;
        }
    }

    private static Scalar Shade(Scalar c, double f) => new(Math.Min(255, c.V0 * f), Math.Min(255, c.V1 * f), Math.Min(255, c.V2 * f));

    /// <summary>Smooth reddish texture, a few vessels, and the light falling off towards the edges.</summary>
    private static Mat Mucosa(Random rng, int w, int h, double unit)
    {
        using var coarse = RandomField(rng, 10, 10);
        using var fine = RandomField(rng, 40, 40);
        using var coarseUp = new Mat();
        using var fineUp = new Mat();
        Cv2.Resize(coarse, coarseUp, new Size(w, h), InterpolationFlags.Cubic);
        Cv2.Resize(fine, fineUp, new Size(w, h), InterpolationFlags.Cubic);
        var image = new Mat(h, w, MatType.CV_8UC3);
        var px = image.AsSpan<byte>();
        var a = coarseUp.AsSpan<float>();
        var b = fineUp.AsSpan<float>();
        var baseB = 55 + rng.Next(25);
        var baseG = 65 + rng.Next(25);
        var baseR = 160 + rng.Next(40);
        for (var y = 0; y < h; y++)
        {
            for (var x = 0; x < w; x++)
            {
                var i = y * w + x;
                var dx = (x - w / 2.0) / (w / 2.0);
                var dy = (y - h / 2.0) / (h / 2.0);
                var light = 1.05 - 0.45 * (dx * dx + dy * dy);
                var n = 0.8 * a[i] + 0.35 * b[i];
                px[3 * i] = Clamp((baseB + 18 * n) * light);
                px[3 * i + 1] = Clamp((baseG + 22 * n) * light);
                px[3 * i + 2] = Clamp((baseR + 45 * n) * light);
            }
        }
        for (var v = 0; v < 4 + rng.Next(5); v++)
        {
            var points = new Point[6];
            double x0 = rng.NextDouble() * w, y0 = rng.NextDouble() * h, angle = rng.NextDouble() * Math.Tau;
            for (var k = 0; k < points.Length; k++)
            {
                points[k] = new Point((int)x0, (int)y0);
                angle += (rng.NextDouble() - 0.5) * 1.2;
                x0 += Math.Cos(angle) * 30 * unit;
                y0 += Math.Sin(angle) * 30 * unit;
            }
            Cv2.Polylines(image, points, false, new Scalar(40, 40, 120), Math.Max(1, (int)(1.5 * unit)), LineTypes.AntiAlias);
        }
        return image;
    }

    /// <summary>Uniform noise in [−1, 1], float32.</summary>
    private static Mat RandomField(Random rng, int w, int h)
    {
        var m = new Mat(h, w, MatType.CV_32FC1);
        var s = m.AsSpan<float>();
        for (var i = 0; i < s.Length; i++) s[i] = (float)(rng.NextDouble() * 2 - 1);
        return m;
    }

    /// <summary>The endoscope's octagonal field of view: 255 inside, 0 in the black border.</summary>
    private static Mat FieldOfView(int w, int h, bool border)
    {
        var m = new Mat(h, w, MatType.CV_8UC1);
        if (!border)
        {
            m.SetTo(new Scalar(255));
            return m;
        }
        var cx = w * 0.12;
        var cy = h * 0.12;
        Point[] octagon =
        [
            new((int)cx, 0), new((int)(w - cx), 0), new(w, (int)cy), new(w, (int)(h - cy)),
            new((int)(w - cx), h), new((int)cx, h), new(0, (int)(h - cy)), new(0, (int)cy),
        ];
        Cv2.FillPoly(m, octagon, new Scalar(255));
        return m;
    }

    private static void AddNoise(Mat image, Random rng, double sigma)
    {
        if (sigma <= 0) return;
        var px = image.AsSpan<byte>();
        for (var i = 0; i < px.Length; i++)
        {
            // Box-Muller, one value per draw.
            var n = Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(Math.Tau * rng.NextDouble());
            px[i] = Clamp(px[i] + sigma * n);
        }
    }

    private static byte Clamp(double v) => (byte)Math.Clamp(Math.Round(v), 0, 255);

    private sealed record Polyp(double X, double Y, double AxisA, double AxisB, double Angle, double Vx, double Vy, Scalar Color)
    {
        /// <summary>Position at frame t: straight paths reflected off the central region's walls.</summary>
        public (double X, double Y) At(int t, int w, int h) =>
            (Bounce(X + Vx * t, w * 0.2, w * 0.8), Bounce(Y + Vy * t, h * 0.2, h * 0.8));

        private static double Bounce(double v, double lo, double hi)
        {
            var span = hi - lo;
            var p = ((v - lo) % (2 * span) + 2 * span) % (2 * span);
            return lo + (p <= span ? p : 2 * span - p);
        }
    }
}

/// <summary>Writes synthetic datasets in the Kvasir-SEG layout (images/, masks/).</summary>
public static class SyntheticDataset
{
    /// <summary>Writes <paramref name="count"/> image/mask pairs; image i uses scene seed <paramref name="seed"/> + i.</summary>
    public static void Write(string directory, int count, int seed, SyntheticOptions? options = null, string format = "png",
        IProgress<int>? progress = null)
    {
        if (count < 1) throw new ArgumentException("the count must be at least 1", nameof(count));
        if (format is not ("png" or "jpg")) throw new ArgumentException($"unknown image format '{format}' (png or jpg)", nameof(format));
        var images = Directory.CreateDirectory(Path.Combine(directory, "images")).FullName;
        var masks = Directory.CreateDirectory(Path.Combine(directory, "masks")).FullName;
        using var image = new Mat();
        using var mask = new Mat();
        for (var i = 0; i < count; i++)
        {
            using var scene = new SyntheticScene(seed + i, options);
            scene.Render(0, image, mask);
            var name = $"synth_{seed + i:D6}";
            Cv2.ImWrite(Path.Combine(images, $"{name}.{format}"), image, format == "jpg" ? [Cv2.ImwriteJpegQuality, 95] : []);
            Cv2.ImWrite(Path.Combine(masks, $"{name}.png"), mask);
            progress?.Report(i + 1);
        }
    }
}

/// <summary>Writes a synthetic endoscopy video: one scene, its polyps drifting, at a steady frame rate.</summary>
public static class SampleVideo
{
    /// <summary>Scenes are drawn at most this wide and scaled up: drawing (per-pixel noise) dominates at HD sizes.</summary>
    public const int MaxRenderWidth = 960;

    /// <returns>Frames written.</returns>
    public static int Write(string path, int seed = 7, double seconds = 10, double fps = 30, int width = 640, int height = 512,
        string fourcc = "mp4v", IProgress<int>? progress = null)
    {
        if (seconds <= 0 || fps <= 0) throw new ArgumentException("the video needs a positive duration and frame rate");
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir is not null) Directory.CreateDirectory(dir);
        var frames = (int)Math.Round(seconds * fps);
        var scale = (int)Math.Ceiling(width / (double)MaxRenderWidth);
        using var scene = new SyntheticScene(seed, new SyntheticOptions(width / scale, height / scale, MinPolyps: 1, MaxPolyps: 2));
        using var writer = new VideoWriter(path, FourCC.FromString(fourcc), fps, new Size(width, height));
        using var image = new Mat();
        using var mask = new Mat();
        using var scaled = new Mat();
        for (var t = 0; t < frames; t++)
        {
            scene.Render(t, image, mask);
            if (scale == 1)
            {
                writer.Write(image);
            }
            else
            {
                Cv2.Resize(image, scaled, new Size(width, height), InterpolationFlags.Linear);
                writer.Write(scaled);
            }
            progress?.Report(t + 1);
        }
        return frames;
    }
}
