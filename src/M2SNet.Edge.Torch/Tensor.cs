using M2SNet.Edge.Torch.Native;
using static M2SNet.Edge.Torch.Native.LibTorch;

namespace M2SNet.Edge.Torch;

public static partial class torch
{
    /// <summary>
    /// A libtorch tensor. Its memory is native and invisible to the GC: dispose it, or create it
    /// inside a <see cref="DisposeScope"/>. The finalizer is only a safety net.
    /// </summary>
    public sealed unsafe class Tensor : IDisposable
    {
        private static long s_live;
        private nint _handle;

        internal Tensor(nint handle)
        {
            _handle = Check(handle);
            Interlocked.Increment(ref s_live);
            Scope = DisposeScope.Current;
            Scope?.Attach(this);
        }

        ~Tensor() => Free();

        internal DisposeScope? Scope { get; set; }

        /// <summary>Tensor handles currently alive in the process (for leak checks).</summary>
        public static long LiveCount => Interlocked.Read(ref s_live);

        internal nint Handle
        {
            get
            {
                ObjectDisposedException.ThrowIf(_handle == 0, this);
                return _handle;
            }
        }

        public bool IsDisposed => _handle == 0;

        // ---- inspection -----------------------------------------------------------------------

        public long[] shape
        {
            get
            {
                var n = m2s_tensor_ndim(Handle);
                var result = new long[n];
                fixed (long* p = result) Check(m2s_tensor_shape(Handle, p, n));
                return result;
            }
        }

        public int dim() => m2s_tensor_ndim(Handle);

        public long size(int dim)
        {
            var s = shape;
            return s[dim < 0 ? s.Length + dim : dim];
        }

        public long numel() => m2s_tensor_numel(Handle);

        public ScalarType dtype => (ScalarType)m2s_tensor_dtype(Handle);

        public Device device => new((DeviceType)m2s_tensor_device_type(Handle), m2s_tensor_device_index(Handle));

        public bool requires_grad
        {
            get => m2s_tensor_requires_grad(Handle) != 0;
            set => Check(m2s_tensor_set_requires_grad(Handle, value ? 1 : 0));
        }

        public Tensor requires_grad_(bool value = true)
        {
            requires_grad = value;
            return this;
        }

        /// <summary>The accumulated gradient, or null before the first backward pass.</summary>
        public Tensor? grad
        {
            get
            {
                nint g;
                Check(m2s_tensor_grad(Handle, &g));
                return g == 0 ? null : new Tensor(g);
            }
        }

        /// <summary>Drops the accumulated gradient (set to none, as PyTorch's optimisers do).</summary>
        public void zero_grad() => Check(m2s_tensor_zero_grad(Handle));

        public double item()
        {
            double v;
            Check(m2s_tensor_item(Handle, &v));
            return v;
        }

        public T item<T>() where T : unmanaged => (T)Convert.ChangeType(item(), typeof(T), System.Globalization.CultureInfo.InvariantCulture);

        /// <summary>Copies the elements out in row-major order (from any device, any layout).</summary>
        public T[] data<T>() where T : unmanaged
        {
            var expected = ScalarTypes.Of<T>();
            if (dtype != expected) throw new InvalidOperationException($"the tensor holds {dtype}, not {expected}");
            var result = new T[numel()];
            CopyTo<T>(result);
            return result;
        }

        /// <summary>Copies the elements into caller memory of exactly <see cref="numel"/> elements.</summary>
        public void CopyTo<T>(Span<T> destination) where T : unmanaged
        {
            fixed (T* p = destination) Check(m2s_tensor_copy_to(Handle, p, (long)destination.Length * sizeof(T)));
        }

        public override string ToString() => IsDisposed ? "Tensor(disposed)" : $"Tensor({dtype}, [{string.Join(", ", shape)}], {device})";

        // ---- autograd ---------------------------------------------------------------------------

        public void backward(Tensor? gradient = null, bool retain_graph = false) =>
            Check(m2s_tensor_backward(Handle, gradient?.Handle ?? 0, retain_graph ? 1 : 0));

        public Tensor detach() => new(m2s_detach(Handle));

        public Tensor clone() => new(m2s_clone(Handle));

        // ---- conversion and shape ------------------------------------------------------------------

        public Tensor to(ScalarType type) => new(m2s_to(Handle, (int)type, (int)device.Type, device.Index));

        public Tensor to(Device target) => new(m2s_to(Handle, (int)dtype, (int)target.Type, target.Index));

        public Tensor to(ScalarType type, Device target) => new(m2s_to(Handle, (int)type, (int)target.Type, target.Index));

        public Tensor cpu() => to(Device.CPU);

        public Tensor contiguous() => new(m2s_contiguous(Handle));

        public Tensor reshape(params long[] newShape)
        {
            fixed (long* p = newShape) return new(m2s_reshape(Handle, p, newShape.Length));
        }

        public Tensor view(params long[] newShape) => reshape(newShape);

        public Tensor expand(params long[] newShape)
        {
            fixed (long* p = newShape) return new(m2s_expand(Handle, p, newShape.Length));
        }

        public Tensor repeat(params long[] repeats)
        {
            fixed (long* p = repeats) return new(m2s_repeat(Handle, p, repeats.Length));
        }

        public Tensor permute(params long[] dims)
        {
            fixed (long* p = dims) return new(m2s_permute(Handle, p, dims.Length));
        }

        public Tensor flip(params long[] dims)
        {
            fixed (long* p = dims) return new(m2s_flip(Handle, p, dims.Length));
        }

        public Tensor narrow(long dim, long start, long length) => new(m2s_narrow(Handle, dim, start, length));

        /// <summary>Splits into chunks of <paramref name="size"/> along <paramref name="dim"/> (views).</summary>
        public Tensor[] split(long size, long dim = 0)
        {
            var total = this.size((int)dim);
            var parts = new Tensor[(total + size - 1) / size];
            for (var i = 0; i < parts.Length; i++) parts[i] = narrow(dim, i * size, Math.Min(size, total - i * size));
            return parts;
        }

        // ---- element-wise -------------------------------------------------------------------------

        public Tensor abs() => Unary(UnaryOp.Abs);
        public Tensor neg() => Unary(UnaryOp.Neg);
        public Tensor sigmoid() => Unary(UnaryOp.Sigmoid);
        public Tensor relu() => Unary(UnaryOp.Relu);
        public Tensor exp() => Unary(UnaryOp.Exp);
        public Tensor log() => Unary(UnaryOp.Log);
        public Tensor sqrt() => Unary(UnaryOp.Sqrt);
        public Tensor log1p() => Unary(UnaryOp.Log1p);
        public Tensor tanh() => Unary(UnaryOp.Tanh);
        public Tensor floor() => Unary(UnaryOp.Floor);

        public Tensor pow(double exponent) => new(m2s_binary_scalar(Handle, exponent, BinaryOp.Pow));
        public Tensor clamp(double min, double max) => new(m2s_clamp(Handle, min, max));
        public Tensor maximum(Tensor other) => Binary(this, other, BinaryOp.Max);
        public Tensor minimum(Tensor other) => Binary(this, other, BinaryOp.Min);
        public Tensor gt(double value) => new(m2s_binary_scalar(Handle, value, BinaryOp.Gt));
        public Tensor ge(double value) => new(m2s_binary_scalar(Handle, value, BinaryOp.Ge));
        public Tensor lt(double value) => new(m2s_binary_scalar(Handle, value, BinaryOp.Lt));
        public Tensor eq(Tensor other) => Binary(this, other, BinaryOp.Eq);

        /// <summary>this + alpha · other.</summary>
        public Tensor add(Tensor other, double alpha = 1) => new(m2s_add_scaled(Handle, other.Handle, alpha));

        public static Tensor operator +(Tensor a, Tensor b) => Binary(a, b, BinaryOp.Add);
        public static Tensor operator -(Tensor a, Tensor b) => Binary(a, b, BinaryOp.Sub);
        public static Tensor operator *(Tensor a, Tensor b) => Binary(a, b, BinaryOp.Mul);
        public static Tensor operator /(Tensor a, Tensor b) => Binary(a, b, BinaryOp.Div);
        public static Tensor operator +(Tensor a, double b) => new(m2s_binary_scalar(a.Handle, b, BinaryOp.Add));
        public static Tensor operator -(Tensor a, double b) => new(m2s_binary_scalar(a.Handle, b, BinaryOp.Sub));
        public static Tensor operator *(Tensor a, double b) => new(m2s_binary_scalar(a.Handle, b, BinaryOp.Mul));
        public static Tensor operator /(Tensor a, double b) => new(m2s_binary_scalar(a.Handle, b, BinaryOp.Div));
        public static Tensor operator +(double a, Tensor b) => b + a;
        public static Tensor operator *(double a, Tensor b) => b * a;
        public static Tensor operator -(double a, Tensor b) => b.neg() + a;
        public static Tensor operator -(Tensor a) => a.neg();

        // ---- in place: optimisers and loading, outside autograd ------------------------------------

        /// <summary>this += alpha · other, in place.</summary>
        public Tensor add_(Tensor other, double alpha = 1)
        {
            Check(m2s_add_(Handle, other.Handle, alpha));
            return this;
        }

        public Tensor add_(double value)
        {
            Check(m2s_add_scalar_(Handle, value));
            return this;
        }

        public Tensor mul_(double value)
        {
            Check(m2s_mul_scalar_(Handle, value));
            return this;
        }

        public Tensor copy_(Tensor source)
        {
            Check(m2s_copy_(Handle, source.Handle));
            return this;
        }

        public Tensor fill_(double value)
        {
            Check(m2s_fill_(Handle, value));
            return this;
        }

        // ---- reductions -----------------------------------------------------------------------------

        public Tensor sum() => Reduce([], false, ReduceOp.Sum);
        public Tensor sum(long[] dims, bool keepdim = false) => Reduce(dims, keepdim, ReduceOp.Sum);
        public Tensor sum(long dim, bool keepdim = false) => Reduce([dim], keepdim, ReduceOp.Sum);
        public Tensor mean() => Reduce([], false, ReduceOp.Mean);
        public Tensor mean(long[] dims, bool keepdim = false) => Reduce(dims, keepdim, ReduceOp.Mean);
        public Tensor amax(long[] dims, bool keepdim = false) => Reduce(dims, keepdim, ReduceOp.Amax);
        public Tensor amin(long[] dims, bool keepdim = false) => Reduce(dims, keepdim, ReduceOp.Amin);
        public Tensor max() => Reduce([], false, ReduceOp.Amax);
        public Tensor min() => Reduce([], false, ReduceOp.Amin);

        // ---- scopes and lifetime ---------------------------------------------------------------------

        /// <summary>Hands the tensor to the enclosing scope (or to no scope), so this scope keeps it alive.</summary>
        public Tensor MoveToOuterDisposeScope()
        {
            Scope?.MoveToOuter(this);
            return this;
        }

        /// <summary>Takes the tensor out of scope management: the caller disposes it.</summary>
        public Tensor DetachFromDisposeScope()
        {
            Scope?.Detach(this);
            Scope = null;
            return this;
        }

        public void Dispose()
        {
            Scope?.Detach(this);
            Scope = null;
            Free();
            GC.SuppressFinalize(this);
        }

        internal void DisposeFromScope()
        {
            Scope = null;
            Free();
            GC.SuppressFinalize(this);
        }

        private void Free()
        {
            var h = Interlocked.Exchange(ref _handle, 0);
            if (h == 0) return;
            m2s_tensor_free(h);
            Interlocked.Decrement(ref s_live);
        }

        private Tensor Unary(UnaryOp op) => new(m2s_unary(Handle, op));

        private static Tensor Binary(Tensor a, Tensor b, BinaryOp op) => new(m2s_binary(a.Handle, b.Handle, op));

        private Tensor Reduce(long[] dims, bool keepdim, ReduceOp op)
        {
            fixed (long* p = dims) return new(m2s_reduce(Handle, p, dims.Length, keepdim ? 1 : 0, op));
        }
    }
}
