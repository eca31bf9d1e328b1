using System.Reflection;
using System.Runtime.InteropServices;

namespace M2SNet.Edge.OpenCv.Native;

/// <summary>Entry points of libm2s_opencv (native/opencv/m2s_opencv.cpp); -1 or null means failure.</summary>
internal static unsafe partial class LibOpenCv
{
    private const string Library = "m2s_opencv";

    /// <summary>Environment variable naming a libm2s_opencv.so to load instead of the one next to the app.</summary>
    public const string ShimPathVariable = "M2S_OPENCV_SHIM";

    static LibOpenCv() => NativeLibrary.SetDllImportResolver(typeof(LibOpenCv).Assembly, Resolve);

    private static nint Resolve(string name, Assembly assembly, DllImportSearchPath? path)
    {
        if (name != Library) return 0;
        var overridePath = Environment.GetEnvironmentVariable(ShimPathVariable);
        if (!string.IsNullOrEmpty(overridePath)) return NativeLibrary.Load(overridePath);
        var local = Path.Combine(AppContext.BaseDirectory, "libm2s_opencv.so");
        if (File.Exists(local)) return NativeLibrary.Load(local);
        if (NativeLibrary.TryLoad("libm2s_opencv.so", assembly, path, out var handle)) return handle;
        throw new DllNotFoundException(
            $"libm2s_opencv.so (the OpenCV shim) was not found next to the application; build it with build/bootstrap.sh opencv-shim or set {ShimPathVariable}");
    }

    public static void Check(int status)
    {
        if (status != 0) throw new OpenCvException(LastError());
    }

    public static string LastError() => Marshal.PtrToStringUTF8(m2s_cv_last_error()) ?? "unknown OpenCV error";

    [LibraryImport(Library)] public static partial nint m2s_cv_last_error();
    [LibraryImport(Library)] public static partial nint m2s_cv_version();
    [LibraryImport(Library)] public static partial int m2s_cv_set_num_threads(int n);

    [LibraryImport(Library)] public static partial nint m2s_mat_new();
    [LibraryImport(Library)] public static partial nint m2s_mat_new_sized(int rows, int cols, int type);
    [LibraryImport(Library)] public static partial void m2s_mat_free(nint m);
    [LibraryImport(Library)] public static partial void m2s_mat_info(nint m, int* rows, int* cols, int* type, long* step, byte** data);
    [LibraryImport(Library)] public static partial int m2s_mat_create(nint m, int rows, int cols, int type);
    [LibraryImport(Library)] public static partial int m2s_mat_copy_to(nint src, nint dst);
    [LibraryImport(Library)] public static partial int m2s_mat_set_to(nint m, double* value);
    [LibraryImport(Library)] public static partial int m2s_mat_convert_to(nint src, nint dst, int type, double alpha, double beta);

    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)] public static partial int m2s_imread(string path, int flags, nint dst);
    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)] public static partial int m2s_imwrite(string path, nint src, int* parameters, int count);
    [LibraryImport(Library)] public static partial int m2s_imdecode(byte* data, long length, int flags, nint dst);
    [LibraryImport(Library)] public static partial int m2s_imdecode_jpeg_strict(byte* data, long length, nint dst);
    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)] public static partial int m2s_imencode(string ext, nint src, int* parameters, int count, nint* buffer);
    [LibraryImport(Library)] public static partial byte* m2s_buffer_data(nint buffer);
    [LibraryImport(Library)] public static partial long m2s_buffer_size(nint buffer);
    [LibraryImport(Library)] public static partial void m2s_buffer_free(nint buffer);

    [LibraryImport(Library)] public static partial int m2s_resize(nint src, nint dst, int width, int height, int interpolation);
    [LibraryImport(Library)] public static partial int m2s_warp_affine(nint src, nint dst, double* m23, int width, int height, int flags, int borderMode, double* borderValue);
    [LibraryImport(Library)] public static partial int m2s_flip(nint src, nint dst, int code);
    [LibraryImport(Library)] public static partial int m2s_cvt_color(nint src, nint dst, int code);
    [LibraryImport(Library)] public static partial int m2s_gaussian_blur(nint src, nint dst, int kw, int kh, double sigmaX, double sigmaY);
    [LibraryImport(Library)] public static partial int m2s_add_weighted(nint a, double alpha, nint b, double beta, double gamma, nint dst);
    [LibraryImport(Library)] public static partial int m2s_threshold(nint src, nint dst, double thresh, double maxval, int type);

    [LibraryImport(Library)] public static partial int m2s_circle(nint img, int x, int y, int radius, double* color, int thickness, int lineType);
    [LibraryImport(Library)] public static partial int m2s_ellipse(nint img, int x, int y, int ax, int ay, double angle, double* color, int thickness, int lineType);
    [LibraryImport(Library)] public static partial int m2s_line(nint img, int x1, int y1, int x2, int y2, double* color, int thickness, int lineType);
    [LibraryImport(Library)] public static partial int m2s_rectangle(nint img, int x, int y, int w, int h, double* color, int thickness, int lineType);
    [LibraryImport(Library)] public static partial int m2s_polylines(nint img, int* points, int count, int closed, double* color, int thickness, int lineType);
    [LibraryImport(Library)] public static partial int m2s_fill_poly(nint img, int* points, int count, double* color, int lineType);
    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)] public static partial int m2s_put_text(nint img, string text, int x, int y, int font, double scale, double* color, int thickness, int lineType);
    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)] public static partial int m2s_text_size(string text, int font, double scale, int thickness, int* width, int* height, int* baseline);
    [LibraryImport(Library)] public static partial int m2s_draw_mask_contours(nint img, nint mask, double* color, int thickness);

    [LibraryImport(Library)] public static partial void m2s_video_hook_ffmpeg_log();
    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)] public static partial int m2s_capture_open(string? source, int index, int api, int* parameters, int count, nint* capture);
    [LibraryImport(Library)] public static partial void m2s_capture_free(nint capture);
    [LibraryImport(Library)] public static partial int m2s_capture_read(nint capture, nint dst);
    [LibraryImport(Library)] public static partial double m2s_capture_get(nint capture, int property);
    [LibraryImport(Library)] public static partial int m2s_capture_set(nint capture, int property, double value);
    [LibraryImport(Library)] public static partial int m2s_capture_backend_name(nint capture, byte* name, int capacity);
    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)] public static partial int m2s_writer_open(string path, int api, int fourcc, double fps, int width, int height, int isColor, nint* writer);
    [LibraryImport(Library)] public static partial int m2s_writer_write(nint writer, nint frame);
    [LibraryImport(Library)] public static partial void m2s_writer_free(nint writer);
    [LibraryImport(Library)] public static partial int m2s_preprocess(nint src, int roiX, int roiY, int roiW, int roiH, int outW, int outH, float* mean, float* std, float* dst);
    [LibraryImport(Library)] public static partial int m2s_scores_to_map(float* scores, int h, int w, int isLogits, int binary, float threshold, int roiX, int roiY, int roiW, int roiH, int outW, int outH, nint dst);
    [LibraryImport(Library)] public static partial int m2s_overlay(nint frame, nint mask, double* color, double opacity, int contourThickness, nint dst);
    [LibraryImport(Library)] public static partial int m2s_field_of_view(nint frame, int threshold, int* x, int* y, int* w, int* h);
}
