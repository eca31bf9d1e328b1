using System.Runtime.InteropServices;
using static M2SNet.Edge.OpenCv.Native.LibOpenCv;

namespace M2SNet.Edge.OpenCv;

public enum ImreadModes
{
    Unchanged = -1,
    Grayscale = 0,
    Color = 1,
}

public enum InterpolationFlags
{
    Nearest = 0,
    Linear = 1,
    Cubic = 2,
    Area = 3,
}

public enum FlipMode
{
    /// <summary>Around the x axis (upside down).</summary>
    X = 0,

    /// <summary>Around the y axis (mirror left-right).</summary>
    Y = 1,

    XY = -1,
}

public enum ColorConversionCodes
{
    BGR2RGB = 4,
    RGB2BGR = 4,
    BGR2GRAY = 6,
    GRAY2BGR = 8,
}

public enum BorderTypes
{
    Constant = 0,
    Replicate = 1,
    Reflect = 2,
    Reflect101 = 4,
}

public enum HersheyFonts
{
    Simplex = 0,
    Plain = 1,
    Duplex = 2,
}

public enum LineTypes
{
    Filled = -1,
    Link8 = 8,
    AntiAlias = 16,
}

public enum ThresholdTypes
{
    Binary = 0,
    BinaryInv = 1,
}

/// <summary>OpenCV's functions, named as OpenCvSharp names them. Destinations are reused when their size fits.</summary>
public static unsafe class Cv2
{
    public const int ImwriteJpegQuality = 1;
    public const int ImwritePngCompression = 16;

    public static string Version => Marshal.PtrToStringUTF8(m2s_cv_version()) ?? "?";

    public static void SetNumThreads(int n) => Check(m2s_cv_set_num_threads(n));

    // ---- codecs --------------------------------------------------------------------------------

    public static Mat ImRead(string path, ImreadModes mode = ImreadModes.Color)
    {
        var m = new Mat();
        try
        {
            Check(m2s_imread(path, (int)mode, m.Handle));
            return m;
        }
        catch
        {
            m.Dispose();
            throw;
        }
    }

    public static void ImWrite(string path, Mat image, params int[] parameters)
    {
        fixed (int* p = parameters) Check(m2s_imwrite(path, image.Handle, p, parameters.Length));
    }

    public static void ImDecode(ReadOnlySpan<byte> encoded, ImreadModes mode, Mat destination)
    {
        fixed (byte* p = encoded) Check(m2s_imdecode(p, encoded.Length, (int)mode, destination.Handle));
    }

    /// <summary>
    /// Decodes a JPEG into BGR with libjpeg, refusing it at the first warning about its data (a
    /// stream cut short, corrupt entropy-coded data), where <see cref="ImDecode(ReadOnlySpan{byte}, ImreadModes, Mat)"/>
    /// would fill what is missing with grey. The exception's message is libjpeg's.
    /// </summary>
    public static void ImDecodeJpegStrict(ReadOnlySpan<byte> encoded, Mat destination)
    {
        fixed (byte* p = encoded) Check(m2s_imdecode_jpeg_strict(p, encoded.Length, destination.Handle));
    }

    public static Mat ImDecode(ReadOnlySpan<byte> encoded, ImreadModes mode = ImreadModes.Color)
    {
        var m = new Mat();
        try
        {
            ImDecode(encoded, mode, m);
            return m;
        }
        catch
        {
            m.Dispose();
            throw;
        }
    }

    /// <summary>Encodes to a format chosen by extension (".png", ".jpg").</summary>
    public static byte[] ImEncode(string extension, Mat image, params int[] parameters)
    {
        nint buffer;
        fixed (int* p = parameters) Check(m2s_imencode(extension, image.Handle, p, parameters.Length, &buffer));
        try
        {
            return new ReadOnlySpan<byte>(m2s_buffer_data(buffer), checked((int)m2s_buffer_size(buffer))).ToArray();
        }
        finally
        {
            m2s_buffer_free(buffer);
        }
    }

    // ---- geometry and colour -----------------------------------------------------------------------

    public static void Resize(Mat src, Mat dst, Size size, InterpolationFlags interpolation = InterpolationFlags.Linear) =>
        Check(m2s_resize(src.Handle, dst.Handle, size.Width, size.Height, (int)interpolation));

    /// <param name="m">The 2×3 affine matrix, row-major.</param>
    public static void WarpAffine(Mat src, Mat dst, ReadOnlySpan<double> m, Size size, InterpolationFlags flags = InterpolationFlags.Linear,
        BorderTypes border = BorderTypes.Constant, Scalar borderValue = default)
    {
        if (m.Length != 6) throw new ArgumentException("an affine matrix has 6 entries", nameof(m));
        var bv = stackalloc double[4];
        borderValue.CopyTo(new Span<double>(bv, 4));
        fixed (double* pm = m) Check(m2s_warp_affine(src.Handle, dst.Handle, pm, size.Width, size.Height, (int)flags, (int)border, bv));
    }

    /// <summary>The rotation by <paramref name="angle"/> degrees (counter-clockwise) about a centre, as OpenCV defines it.</summary>
    public static double[] GetRotationMatrix2D(double centerX, double centerY, double angle, double scale = 1)
    {
        var a = angle * Math.PI / 180;
        var alpha = scale * Math.Cos(a);
        var beta = scale * Math.Sin(a);
        return [alpha, beta, (1 - alpha) * centerX - beta * centerY, -beta, alpha, beta * centerX + (1 - alpha) * centerY];
    }

    public static void Flip(Mat src, Mat dst, FlipMode mode) => Check(m2s_flip(src.Handle, dst.Handle, (int)mode));

    public static void CvtColor(Mat src, Mat dst, ColorConversionCodes code) => Check(m2s_cvt_color(src.Handle, dst.Handle, (int)code));

    public static void GaussianBlur(Mat src, Mat dst, Size kernel, double sigmaX, double sigmaY = 0) =>
        Check(m2s_gaussian_blur(src.Handle, dst.Handle, kernel.Width, kernel.Height, sigmaX, sigmaY));

    /// <summary>dst = a·alpha + b·beta + gamma.</summary>
    public static void AddWeighted(Mat a, double alpha, Mat b, double beta, double gamma, Mat dst) =>
        Check(m2s_add_weighted(a.Handle, alpha, b.Handle, beta, gamma, dst.Handle));

    public static void Threshold(Mat src, Mat dst, double threshold, double maxValue, ThresholdTypes type) =>
        Check(m2s_threshold(src.Handle, dst.Handle, threshold, maxValue, (int)type));

    // ---- drawing, in place ---------------------------------------------------------------------------

    public static void Circle(Mat image, Point center, int radius, Scalar color, int thickness = 1, LineTypes lineType = LineTypes.Link8) =>
        WithColor(color, c => m2s_circle(image.Handle, center.X, center.Y, radius, c, thickness, (int)lineType));

    public static void Ellipse(Mat image, Point center, Size axes, double angle, Scalar color, int thickness = 1, LineTypes lineType = LineTypes.Link8) =>
        WithColor(color, c => m2s_ellipse(image.Handle, center.X, center.Y, axes.Width, axes.Height, angle, c, thickness, (int)lineType));

    public static void Line(Mat image, Point a, Point b, Scalar color, int thickness = 1, LineTypes lineType = LineTypes.Link8) =>
        WithColor(color, c => m2s_line(image.Handle, a.X, a.Y, b.X, b.Y, c, thickness, (int)lineType));

    public static void Rectangle(Mat image, Point topLeft, Size size, Scalar color, int thickness = 1, LineTypes lineType = LineTypes.Link8) =>
        WithColor(color, c => m2s_rectangle(image.Handle, topLeft.X, topLeft.Y, size.Width, size.Height, c, thickness, (int)lineType));

    public static void Polylines(Mat image, ReadOnlySpan<Point> points, bool closed, Scalar color, int thickness = 1, LineTypes lineType = LineTypes.Link8)
    {
        fixed (Point* p = points)
        {
            var pp = (int*)p;
            var n = points.Length;
            WithColor(color, c => m2s_polylines(image.Handle, pp, n, closed ? 1 : 0, c, thickness, (int)lineType));
        }
    }

    public static void FillPoly(Mat image, ReadOnlySpan<Point> points, Scalar color, LineTypes lineType = LineTypes.Link8)
    {
        fixed (Point* p = points)
        {
            var pp = (int*)p;
            var n = points.Length;
            WithColor(color, c => m2s_fill_poly(image.Handle, pp, n, c, (int)lineType));
        }
    }

    public static void PutText(Mat image, string text, Point origin, HersheyFonts font, double scale, Scalar color, int thickness = 1,
        LineTypes lineType = LineTypes.AntiAlias) =>
        WithColor(color, c => m2s_put_text(image.Handle, text, origin.X, origin.Y, (int)font, scale, c, thickness, (int)lineType));

    public static Size GetTextSize(string text, HersheyFonts font, double scale, int thickness, out int baseline)
    {
        int w, h, b;
        Check(m2s_text_size(text, (int)font, scale, thickness, &w, &h, &b));
        baseline = b;
        return new Size(w, h);
    }

    /// <summary>Outlines the regions of a binary 8-bit mask on the image.</summary>
    public static void DrawMaskContours(Mat image, Mat mask, Scalar color, int thickness) =>
        WithColor(color, c => m2s_draw_mask_contours(image.Handle, mask.Handle, c, thickness));

    private static void WithColor(Scalar color, DrawWithColor draw)
    {
        var c = stackalloc double[4];
        color.CopyTo(new Span<double>(c, 4));
        Check(draw(c));
    }

    private delegate int DrawWithColor(double* color);
}
