using System.Reflection;
using System.Runtime.InteropServices;

namespace M2SNet.Edge.Torch.Native;

/// <summary>
/// The entry points of libm2s_torch (native/torch/m2s_torch.cpp). Tensors are opaque pointers to
/// at::Tensor; a null return or -1 means failure, with the reason in <see cref="m2s_last_error"/>.
/// </summary>
internal static unsafe partial class LibTorch
{
    private const string Library = "m2s_torch";

    /// <summary>Environment variable naming a libm2s_torch.so to load instead of the one next to the app.</summary>
    public const string ShimPathVariable = "M2S_TORCH_SHIM";

    static LibTorch()
    {
        NativeLibrary.SetDllImportResolver(typeof(LibTorch).Assembly, Resolve);
        // glibc would return large freed buffers to the OS after every step; see m2s_init.
        Check(m2s_init(1));
    }

    private static nint Resolve(string name, Assembly assembly, DllImportSearchPath? path)
    {
        if (name != Library) return 0;
        var overridePath = Environment.GetEnvironmentVariable(ShimPathVariable);
        if (!string.IsNullOrEmpty(overridePath)) return NativeLibrary.Load(overridePath);
        var local = Path.Combine(AppContext.BaseDirectory, "libm2s_torch.so");
        if (File.Exists(local)) return NativeLibrary.Load(local);
        if (NativeLibrary.TryLoad("libm2s_torch.so", assembly, path, out var handle)) return handle;
        throw new DllNotFoundException(
            $"libm2s_torch.so (the libtorch shim) was not found next to the application; build it with build/bootstrap.sh torch-shim or set {ShimPathVariable}");
    }

    /// <summary>Loads the shim (and libtorch) now, so a missing library fails early with its reason.</summary>
    public static void EnsureLoaded() => Check(m2s_get_num_threads() > 0 ? 0 : -1);

    public static nint Check(nint tensor)
    {
        if (tensor == 0) throw new TorchException(LastError());
        return tensor;
    }

    public static void Check(int status)
    {
        if (status != 0) throw new TorchException(LastError());
    }

    public static string LastError() => Marshal.PtrToStringUTF8(m2s_last_error()) ?? "unknown libtorch error";

    [LibraryImport(Library)] public static partial nint m2s_last_error();
    [LibraryImport(Library)] public static partial int m2s_init(int tuneAllocator);
    [LibraryImport(Library)] public static partial nint m2s_version();
    [LibraryImport(Library)] public static partial int m2s_set_num_threads(int n);
    [LibraryImport(Library)] public static partial int m2s_get_num_threads();
    [LibraryImport(Library)] public static partial int m2s_manual_seed(ulong seed);
    [LibraryImport(Library)] public static partial int m2s_cuda_is_available();
    [LibraryImport(Library)] public static partial int m2s_cuda_device_count();
    [LibraryImport(Library)] public static partial int m2s_grad_enabled();
    [LibraryImport(Library)] public static partial void m2s_set_grad_enabled(int enabled);

    [LibraryImport(Library)] public static partial void m2s_tensor_free(nint t);
    [LibraryImport(Library)] public static partial int m2s_tensor_ndim(nint t);
    [LibraryImport(Library)] public static partial int m2s_tensor_shape(nint t, long* shape, int capacity);
    [LibraryImport(Library)] public static partial int m2s_tensor_dtype(nint t);
    [LibraryImport(Library)] public static partial int m2s_tensor_device_type(nint t);
    [LibraryImport(Library)] public static partial int m2s_tensor_device_index(nint t);
    [LibraryImport(Library)] public static partial long m2s_tensor_numel(nint t);
    [LibraryImport(Library)] public static partial int m2s_tensor_requires_grad(nint t);
    [LibraryImport(Library)] public static partial int m2s_tensor_set_requires_grad(nint t, int requiresGrad);
    [LibraryImport(Library)] public static partial int m2s_tensor_copy_to(nint t, void* destination, long nbytes);
    [LibraryImport(Library)] public static partial int m2s_tensor_item(nint t, double* value);

    [LibraryImport(Library)] public static partial nint m2s_from_data(void* data, long* shape, int ndim, int dtype, int deviceType, int deviceIndex, int requiresGrad);
    [LibraryImport(Library)] public static partial nint m2s_empty(long* shape, int ndim, int dtype, int deviceType, int deviceIndex, int requiresGrad);
    [LibraryImport(Library)] public static partial nint m2s_zeros(long* shape, int ndim, int dtype, int deviceType, int deviceIndex, int requiresGrad);
    [LibraryImport(Library)] public static partial nint m2s_full(long* shape, int ndim, double value, int dtype, int deviceType, int deviceIndex, int requiresGrad);
    [LibraryImport(Library)] public static partial nint m2s_randn(long* shape, int ndim, int dtype, int deviceType, int deviceIndex, int requiresGrad);
    [LibraryImport(Library)] public static partial nint m2s_rand(long* shape, int ndim, int dtype, int deviceType, int deviceIndex, int requiresGrad);

    [LibraryImport(Library)] public static partial int m2s_init_kaiming_normal(nint t, int fanOut, double a);
    [LibraryImport(Library)] public static partial int m2s_init_kaiming_uniform(nint t, double a);
    [LibraryImport(Library)] public static partial int m2s_init_uniform(nint t, double low, double high);
    [LibraryImport(Library)] public static partial int m2s_init_normal(nint t, double mean, double std);

    [LibraryImport(Library)] public static partial int m2s_tensor_grad(nint t, nint* grad);
    [LibraryImport(Library)] public static partial int m2s_tensor_backward(nint t, nint gradient, int retainGraph);
    [LibraryImport(Library)] public static partial int m2s_tensor_zero_grad(nint t);
    [LibraryImport(Library)] public static partial nint m2s_detach(nint t);
    [LibraryImport(Library)] public static partial nint m2s_clone(nint t);

    [LibraryImport(Library)] public static partial nint m2s_to(nint t, int dtype, int deviceType, int deviceIndex);
    [LibraryImport(Library)] public static partial nint m2s_contiguous(nint t);
    [LibraryImport(Library)] public static partial nint m2s_reshape(nint t, long* shape, int ndim);
    [LibraryImport(Library)] public static partial nint m2s_expand(nint t, long* shape, int ndim);
    [LibraryImport(Library)] public static partial nint m2s_repeat(nint t, long* repeats, int ndim);
    [LibraryImport(Library)] public static partial nint m2s_permute(nint t, long* dims, int ndim);
    [LibraryImport(Library)] public static partial nint m2s_narrow(nint t, long dim, long start, long length);
    [LibraryImport(Library)] public static partial nint m2s_flip(nint t, long* dims, int ndim);
    [LibraryImport(Library)] public static partial nint m2s_cat(nint* tensors, int count, long dim);

    // c10d (native/torch/m2s_torch.cpp, end): process groups for data-parallel training.
    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)] public static partial int m2s_dist_available(string backend);
    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)] public static partial nint m2s_dist_init(string backend, string host, int port, int world, int rank, long timeoutMs, int device);
    [LibraryImport(Library)] public static partial void m2s_dist_free(nint group);
    [LibraryImport(Library)] public static partial int m2s_dist_allreduce_mean(nint group, nint* tensors, int count, long bucketBytes);
    [LibraryImport(Library)] public static partial int m2s_dist_broadcast(nint group, nint* tensors, int count, int root, long bucketBytes);
    [LibraryImport(Library)] public static partial int m2s_dist_barrier(nint group);

    [LibraryImport(Library)] public static partial nint m2s_unary(nint t, UnaryOp op);
    [LibraryImport(Library)] public static partial nint m2s_binary(nint a, nint b, BinaryOp op);
    [LibraryImport(Library)] public static partial nint m2s_binary_scalar(nint a, double b, BinaryOp op);
    [LibraryImport(Library)] public static partial nint m2s_add_scaled(nint a, nint b, double alpha);
    [LibraryImport(Library)] public static partial nint m2s_clamp(nint t, double low, double high);
    [LibraryImport(Library)] public static partial nint m2s_where(nint condition, nint a, nint b);

    [LibraryImport(Library)] public static partial int m2s_add_(nint t, nint other, double alpha);
    [LibraryImport(Library)] public static partial int m2s_add_scalar_(nint t, double value);
    [LibraryImport(Library)] public static partial int m2s_mul_scalar_(nint t, double value);
    [LibraryImport(Library)] public static partial int m2s_copy_(nint t, nint source);
    [LibraryImport(Library)] public static partial int m2s_fill_(nint t, double value);

    [LibraryImport(Library)] public static partial nint m2s_reduce(nint t, long* dims, int ndims, int keepdim, ReduceOp op);

    [LibraryImport(Library)] public static partial nint m2s_conv2d(nint input, nint weight, nint bias, long* stride, long* padding, long* dilation, long groups);
    [LibraryImport(Library)] public static partial nint m2s_batch_norm(nint input, nint weight, nint bias, nint runningMean, nint runningVar, int training, double momentum, double eps);
    [LibraryImport(Library)] public static partial nint m2s_max_pool2d(nint input, long* kernel, long* stride, long* padding, long* dilation, int ceilMode);
    [LibraryImport(Library)] public static partial nint m2s_avg_pool2d(nint input, long* kernel, long* stride, long* padding, int ceilMode, int countIncludePad);
    [LibraryImport(Library)] public static partial nint m2s_upsample_bilinear2d(nint input, long height, long width, int alignCorners);
    [LibraryImport(Library)] public static partial nint m2s_linear(nint input, nint weight, nint bias);
    [LibraryImport(Library)] public static partial nint m2s_bce_with_logits(nint input, nint target, nint weight, int reduction);
    [LibraryImport(Library)] public static partial nint m2s_mse_loss(nint input, nint target, int reduction);

    public enum UnaryOp
    {
        Abs = 0, Neg, Sigmoid, Relu, Exp, Log, Sqrt, Log1p, Tanh, Floor,
    }

    public enum BinaryOp
    {
        Add = 0, Sub, Mul, Div, Max, Min, Pow, Gt, Ge, Lt, Le, Eq,
    }

    public enum ReduceOp
    {
        Sum = 0, Mean, Amax, Amin,
    }
}
