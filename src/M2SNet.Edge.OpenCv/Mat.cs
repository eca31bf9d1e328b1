using System.Runtime.InteropServices;
using static M2SNet.Edge.OpenCv.Native.LibOpenCv;

namespace M2SNet.Edge.OpenCv;

/// <summary>An error OpenCV reported (bad argument, unreadable file, failed encode, ...).</summary>
public sealed class OpenCvException(string message) : Exception(message);

/// <summary>OpenCV's element type: depth and channel count (CV_8UC3 and friends).</summary>
public readonly record struct MatType(int Value)
{
    public static readonly MatType CV_8UC1 = Make(0, 1);
    public static readonly MatType CV_8UC3 = Make(0, 3);
    public static readonly MatType CV_8UC4 = Make(0, 4);
    public static readonly MatType CV_32FC1 = Make(5, 1);
    public static readonly MatType CV_32FC3 = Make(5, 3);
    public static readonly MatType CV_64FC1 = Make(6, 1);

    /// <summary>0 8U, 1 8S, 2 16U, 3 16S, 4 32S, 5 32F, 6 64F.</summary>
    public int Depth => Value & 7;

    public int Channels => (Value >> 3) + 1;

    public int ElementSize => Channels * Depth switch { 0 or 1 => 1, 2 or 3 => 2, 4 or 5 => 4, _ => 8 };

    public static MatType Make(int depth, int channels) => new(depth + ((channels - 1) << 3));

    public override string ToString() => $"CV_{Depth switch { 0 => "8U", 1 => "8S", 2 => "16U", 3 => "16S", 4 => "32S", 5 => "32F", _ => "64F" }}C{Channels}";
}

public readonly record struct Size(int Width, int Height);

public readonly record struct Point(int X, int Y);

/// <summary>A colour or pixel value: up to four channels, in the image's channel order (BGR for OpenCV images).</summary>
public readonly record struct Scalar(double V0, double V1 = 0, double V2 = 0, double V3 = 0)
{
    public static Scalar All(double v) => new(v, v, v, v);

    internal void CopyTo(Span<double> destination)
    {
        destination[0] = V0;
        destination[1] = V1;
        destination[2] = V2;
        destination[3] = V3;
    }
}

/// <summary>
/// An OpenCV matrix in native memory, owned by this object. Reuse a <see cref="Mat"/> as the
/// destination of operations to avoid allocating per frame: OpenCV reallocates only when the
/// size or type changes.
/// </summary>
public sealed unsafe class Mat : IDisposable
{
    private nint _handle;

    public Mat() => _handle = m2s_mat_new();

    public Mat(int rows, int cols, MatType type)
    {
        _handle = m2s_mat_new_sized(rows, cols, type.Value);
        if (_handle == 0) throw new OpenCvException(LastError());
    }

    ~Mat() => Free();

    internal nint Handle
    {
        get
        {
            ObjectDisposedException.ThrowIf(_handle == 0, this);
            return _handle;
        }
    }

    public int Rows => Info().Rows;

    public int Cols => Info().Cols;

    public MatType Type => new(Info().Type);

    public int Channels => Type.Channels;

    /// <summary>Bytes per row (may exceed Cols × element size for a view).</summary>
    public long Step => Info().Step;

    public nint Data => Info().Data;

    public bool Empty => Info().Data == 0 || Rows == 0 || Cols == 0;

    public Size Size => new(Cols, Rows);

    /// <summary>(Re)allocates to this size and type; a no-op when they already match.</summary>
    public void Create(int rows, int cols, MatType type) => Check(m2s_mat_create(Handle, rows, cols, type.Value));

    /// <summary>The pixels as one contiguous span (rows back to back).</summary>
    public Span<T> AsSpan<T>() where T : unmanaged
    {
        var (rows, cols, type, step, data) = Info();
        var rowBytes = (long)cols * new MatType(type).ElementSize;
        if (step != rowBytes) throw new InvalidOperationException("the matrix is not continuous");
        return new Span<T>((void*)data, checked((int)(rows * rowBytes / sizeof(T))));
    }

    /// <summary>A new matrix with the same pixels.</summary>
    public Mat Clone()
    {
        var m = new Mat();
        Check(m2s_mat_copy_to(Handle, m.Handle));
        return m;
    }

    public void CopyTo(Mat destination) => Check(m2s_mat_copy_to(Handle, destination.Handle));

    public void SetTo(Scalar value)
    {
        var v = stackalloc double[4];
        value.CopyTo(new Span<double>(v, 4));
        Check(m2s_mat_set_to(Handle, v));
    }

    /// <summary>dst = this · alpha + beta, converted to <paramref name="type"/>'s depth.</summary>
    public void ConvertTo(Mat destination, MatType type, double alpha = 1, double beta = 0) =>
        Check(m2s_mat_convert_to(Handle, destination.Handle, type.Value, alpha, beta));

    /// <summary>A matrix holding a copy of the given pixels.</summary>
    public static Mat FromPixels<T>(int rows, int cols, MatType type, ReadOnlySpan<T> pixels) where T : unmanaged
    {
        var m = new Mat(rows, cols, type);
        MemoryMarshal.AsBytes(pixels).CopyTo(MemoryMarshal.AsBytes(m.AsSpan<T>()));
        return m;
    }

    public override string ToString() => _handle == 0 ? "Mat(disposed)" : $"Mat({Rows}x{Cols} {Type})";

    public void Dispose()
    {
        Free();
        GC.SuppressFinalize(this);
    }

    private (int Rows, int Cols, int Type, long Step, nint Data) Info()
    {
        int rows, cols, type;
        long step;
        byte* data;
        m2s_mat_info(Handle, &rows, &cols, &type, &step, &data);
        return (rows, cols, type, step, (nint)data);
    }

    private void Free()
    {
        var h = Interlocked.Exchange(ref _handle, 0);
        if (h != 0) m2s_mat_free(h);
    }
}
