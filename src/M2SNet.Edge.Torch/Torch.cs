using System.Runtime.InteropServices;
using static M2SNet.Edge.Torch.Native.LibTorch;

namespace M2SNet.Edge.Torch;

/// <summary>The libtorch binding's entry point, spelled as TorchSharp spells it (torch.zeros, torch.nn, ...).</summary>
public static unsafe partial class torch
{
    /// <summary>The LibTorch version the shim was built against.</summary>
    public static string version => Marshal.PtrToStringUTF8(m2s_version()) ?? "?";

    public static void manual_seed(ulong seed) => Check(m2s_manual_seed(seed));

    public static void set_num_threads(int n) => Check(m2s_set_num_threads(n));

    public static int get_num_threads() => m2s_get_num_threads();

    /// <summary>Starts a scope that frees every tensor created on this thread until it is disposed.</summary>
    public static DisposeScope NewDisposeScope() => new();

    /// <summary>Disables gradient recording on this thread until disposed.</summary>
    public static IDisposable no_grad() => new GradMode(enabled: false);

    /// <summary>Enables gradient recording on this thread until disposed.</summary>
    public static IDisposable enable_grad() => new GradMode(enabled: true);

    public static bool is_grad_enabled() => m2s_grad_enabled() != 0;

    public static Tensor tensor<T>(ReadOnlySpan<T> data, long[] shape, Device? device = null, bool requires_grad = false)
        where T : unmanaged
    {
        long count = 1;
        foreach (var d in shape) count *= d;
        if (count != data.Length) throw new ArgumentException($"{data.Length} values cannot fill shape [{string.Join(", ", shape)}]");
        var dev = device ?? Device.CPU;
        fixed (T* p = data)
        fixed (long* s = shape)
        {
            return new Tensor(m2s_from_data(p, s, shape.Length, (int)ScalarTypes.Of<T>(), (int)dev.Type, dev.Index, requires_grad ? 1 : 0));
        }
    }

    public static Tensor tensor<T>(T[] data, long[] shape, Device? device = null, bool requires_grad = false) where T : unmanaged =>
        tensor<T>(data.AsSpan(), shape, device, requires_grad);

    /// <summary>A tensor from raw little-endian bytes of the given element type (checkpoint loading).</summary>
    public static Tensor from_bytes(ReadOnlySpan<byte> data, ScalarType type, ReadOnlySpan<long> shape, Device? device = null)
    {
        long count = 1;
        foreach (var d in shape) count *= d;
        if (count * ScalarTypes.ElementSize(type) != data.Length)
        {
            throw new ArgumentException($"{data.Length} bytes do not hold {type} of shape [{string.Join(", ", shape.ToArray())}]");
        }
        var dev = device ?? Device.CPU;
        fixed (byte* p = data)
        fixed (long* s = shape)
        {
            return new Tensor(m2s_from_data(p, s, shape.Length, (int)type, (int)dev.Type, dev.Index, 0));
        }
    }

    public static Tensor scalar_tensor(double value, ScalarType dtype = ScalarType.Float32, Device? device = null) =>
        full([], value, dtype, device);

    public static Tensor zeros(long[] shape, ScalarType dtype = ScalarType.Float32, Device? device = null, bool requires_grad = false) =>
        Create(shape, dtype, device, requires_grad, &m2s_zeros);

    public static Tensor ones(long[] shape, ScalarType dtype = ScalarType.Float32, Device? device = null, bool requires_grad = false) =>
        full(shape, 1, dtype, device, requires_grad);

    public static Tensor empty(long[] shape, ScalarType dtype = ScalarType.Float32, Device? device = null, bool requires_grad = false) =>
        Create(shape, dtype, device, requires_grad, &m2s_empty);

    public static Tensor randn(long[] shape, ScalarType dtype = ScalarType.Float32, Device? device = null, bool requires_grad = false) =>
        Create(shape, dtype, device, requires_grad, &m2s_randn);

    public static Tensor rand(long[] shape, ScalarType dtype = ScalarType.Float32, Device? device = null, bool requires_grad = false) =>
        Create(shape, dtype, device, requires_grad, &m2s_rand);

    public static Tensor full(long[] shape, double value, ScalarType dtype = ScalarType.Float32, Device? device = null, bool requires_grad = false)
    {
        var dev = device ?? Device.CPU;
        fixed (long* s = shape)
        {
            return new Tensor(m2s_full(s, shape.Length, value, (int)dtype, (int)dev.Type, dev.Index, requires_grad ? 1 : 0));
        }
    }

    public static Tensor cat(IReadOnlyList<Tensor> tensors, long dim = 0)
    {
        var handles = tensors.Count <= 32 ? stackalloc nint[tensors.Count] : new nint[tensors.Count];
        for (var i = 0; i < tensors.Count; i++) handles[i] = tensors[i].Handle;
        fixed (nint* p = handles) return new Tensor(m2s_cat(p, tensors.Count, dim));
    }

    public static Tensor where(Tensor condition, Tensor a, Tensor b) => new(m2s_where(condition.Handle, a.Handle, b.Handle));

    public static class cuda
    {
        public static bool is_available() => m2s_cuda_is_available() != 0;

        public static int device_count() => m2s_cuda_device_count();
    }

    private static Tensor Create(long[] shape, ScalarType dtype, Device? device, bool requiresGrad,
        delegate* managed<long*, int, int, int, int, int, nint> create)
    {
        var dev = device ?? Device.CPU;
        fixed (long* s = shape)
        {
            return new Tensor(create(s, shape.Length, (int)dtype, (int)dev.Type, dev.Index, requiresGrad ? 1 : 0));
        }
    }

    private sealed class GradMode : IDisposable
    {
        private readonly bool _previous;
        private bool _restored;

        public GradMode(bool enabled)
        {
            _previous = m2s_grad_enabled() != 0;
            m2s_set_grad_enabled(enabled ? 1 : 0);
        }

        public void Dispose()
        {
            if (_restored) return;
            _restored = true;
            m2s_set_grad_enabled(_previous ? 1 : 0);
        }
    }
}
