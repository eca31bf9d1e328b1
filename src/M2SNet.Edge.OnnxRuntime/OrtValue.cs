using System.Buffers;
using System.Runtime.InteropServices;
using M2SNet.Edge.OnnxRuntime.Native;

namespace M2SNet.Edge.OnnxRuntime;

/// <summary>Element type and shape of a tensor value.</summary>
public sealed record TensorTypeAndShape(TensorElementType ElementType, long[] Shape, long ElementCount);

/// <summary>
/// An ORT value: a tensor either over caller memory (pinned, never copied) or allocated by ORT
/// (session outputs). Dispose it to release the native value and unpin the memory.
/// </summary>
public sealed unsafe class OrtValue : IDisposable
{
    private readonly ValueHandle _handle;
    private MemoryHandle _pin;
    private TensorTypeAndShape? _typeAndShape; // a value's type and shape never change

    private OrtValue(ValueHandle handle, MemoryHandle pin = default)
    {
        _handle = handle;
        _pin = pin;
    }

    internal nint Handle
    {
        get
        {
            ObjectDisposedException.ThrowIf(_handle.IsClosed, this);
            return _handle.DangerousGetHandle();
        }
    }

    /// <summary>A tensor over the caller's array; the array must not be resized while the value lives.</summary>
    public static OrtValue CreateTensorValueFromMemory<T>(T[] data, ReadOnlySpan<long> shape) where T : unmanaged =>
        CreateTensorValueFromMemory(new Memory<T>(data), shape);

    /// <summary>A tensor over caller memory, pinned for the value's lifetime; no copy is made.</summary>
    public static OrtValue CreateTensorValueFromMemory<T>(Memory<T> data, ReadOnlySpan<long> shape) where T : unmanaged
    {
        var pin = data.Pin();
        try
        {
            var value = CreateTensorValueWithData((nint)pin.Pointer, (long)data.Length * sizeof(T), ElementTypeOf<T>(), shape);
            value._pin = pin;
            return value;
        }
        catch
        {
            pin.Dispose();
            throw;
        }
    }

    /// <summary>A tensor over native memory the caller keeps alive longer than the value.</summary>
    public static OrtValue CreateTensorValueWithData(nint data, long byteLength, TensorElementType elementType, ReadOnlySpan<long> shape)
    {
        var env = OrtEnvironment.Instance;
        var api = env.Api;
        var handle = new ValueHandle();
        nint native;
        fixed (long* dims = shape)
        {
            api.Check(api.CreateTensorWithDataAsOrtValue(api.CpuMemoryInfo, (void*)data, (nuint)byteLength, dims, (nuint)shape.Length, elementType, &native));
        }
        handle.Adopt(native);
        return new OrtValue(handle);
    }

    /// <summary>A tensor whose memory ORT allocates (zeroed is not guaranteed).</summary>
    public static OrtValue CreateAllocatedTensorValue(TensorElementType elementType, ReadOnlySpan<long> shape)
    {
        var api = OrtEnvironment.Instance.Api;
        var handle = new ValueHandle();
        nint native;
        fixed (long* dims = shape)
        {
            api.Check(api.CreateTensorAsOrtValue(api.DefaultAllocator, dims, (nuint)shape.Length, elementType, &native));
        }
        handle.Adopt(native);
        return new OrtValue(handle);
    }

    /// <summary>Wraps a value ORT created (a session output); the new object owns it.</summary>
    internal static OrtValue FromNative(nint native)
    {
        var handle = new ValueHandle();
        handle.Adopt(native);
        return new OrtValue(handle);
    }

    public bool IsTensor
    {
        get
        {
            var api = OrtEnvironment.Instance.Api;
            int result;
            api.Check(api.IsTensor(Handle, &result));
            return result != 0;
        }
    }

    public TensorTypeAndShape GetTensorTypeAndShape()
    {
        if (_typeAndShape is { } cached) return cached;
        var api = OrtEnvironment.Instance.Api;
        using var info = new TensorTypeAndShapeHandle();
        nint native;
        api.Check(api.GetTensorTypeAndShape(Handle, &native));
        info.Adopt(native);
        return _typeAndShape = TensorInfo.Read(api, native).ToTypeAndShape();
    }

    /// <summary>Address of the tensor's first element (CPU tensors).</summary>
    public nint DataPointer
    {
        get
        {
            var api = OrtEnvironment.Instance.Api;
            void* data;
            api.Check(api.GetTensorMutableData(Handle, &data));
            return (nint)data;
        }
    }

    /// <summary>Size of the tensor's data in bytes.</summary>
    public long ByteLength
    {
        get
        {
            var info = GetTensorTypeAndShape();
            return info.ElementCount * SizeOf(info.ElementType);
        }
    }

    /// <summary>Bytes per element of a fixed-size element type.</summary>
    public static int SizeOf(TensorElementType type) => type switch
    {
        TensorElementType.Double or TensorElementType.Int64 or TensorElementType.UInt64 or TensorElementType.Complex64 => 8,
        TensorElementType.Float or TensorElementType.Int32 or TensorElementType.UInt32 => 4,
        TensorElementType.Float16 or TensorElementType.BFloat16 or TensorElementType.Int16 or TensorElementType.UInt16 => 2,
        TensorElementType.UInt8 or TensorElementType.Int8 or TensorElementType.Bool => 1,
        TensorElementType.Complex128 => 16,
        _ => throw new NotSupportedException($"{type} has no fixed element size"),
    };

    /// <summary>The tensor's elements, read-only.</summary>
    public ReadOnlySpan<T> GetTensorDataAsSpan<T>() where T : unmanaged => GetTensorMutableDataAsSpan<T>();

    /// <summary>The tensor's elements, writable in place (e.g. to fill a pre-allocated input).</summary>
    public Span<T> GetTensorMutableDataAsSpan<T>() where T : unmanaged
    {
        var info = GetTensorTypeAndShape();
        var expected = ElementTypeOf<T>();
        if (info.ElementType != expected)
        {
            throw new InvalidOperationException($"the tensor holds {info.ElementType}, not {expected} ({typeof(T).Name})");
        }
        return new Span<T>((void*)DataPointer, checked((int)info.ElementCount));
    }

    /// <summary>The ORT element type that corresponds to a .NET type.</summary>
    public static TensorElementType ElementTypeOf<T>() where T : unmanaged => typeof(T) switch
    {
        var t when t == typeof(float) => TensorElementType.Float,
        var t when t == typeof(Half) => TensorElementType.Float16,
        var t when t == typeof(double) => TensorElementType.Double,
        var t when t == typeof(byte) => TensorElementType.UInt8,
        var t when t == typeof(sbyte) => TensorElementType.Int8,
        var t when t == typeof(short) => TensorElementType.Int16,
        var t when t == typeof(ushort) => TensorElementType.UInt16,
        var t when t == typeof(int) => TensorElementType.Int32,
        var t when t == typeof(uint) => TensorElementType.UInt32,
        var t when t == typeof(long) => TensorElementType.Int64,
        var t when t == typeof(ulong) => TensorElementType.UInt64,
        var t when t == typeof(bool) => TensorElementType.Bool,
        _ => throw new NotSupportedException($"{typeof(T).Name} has no ONNX tensor element type"),
    };

    public void Dispose()
    {
        _handle.Dispose();
        _pin.Dispose();
        _pin = default;
    }
}

/// <summary>Reads an OrtTensorTypeAndShapeInfo (owned by someone else) into managed form.</summary>
internal static unsafe class TensorInfo
{
    /// <param name="ElementCount">Product of the dimensions; for a symbolic (-1) dimension ORT reports a negative count.</param>
    public readonly record struct Info(TensorElementType ElementType, long[] Dimensions, string[] SymbolicDimensions, long ElementCount)
    {
        public TensorTypeAndShape ToTypeAndShape() => new(ElementType, Dimensions, ElementCount);
    }

    public static Info Read(OrtApi api, nint info)
    {
        TensorElementType type;
        api.Check(api.GetTensorElementType(info, &type));
        nuint rank;
        api.Check(api.GetDimensionsCount(info, &rank));
        var dims = new long[(int)rank];
        var symbols = new string[(int)rank];
        if (rank > 0)
        {
            fixed (long* d = dims)
            {
                api.Check(api.GetDimensions(info, d, rank));
            }
            var names = stackalloc byte*[(int)rank];
            api.Check(api.GetSymbolicDimensions(info, names, rank));
            for (var i = 0; i < (int)rank; i++) symbols[i] = Marshal.PtrToStringUTF8((nint)names[i]) ?? string.Empty;
        }
        nuint count;
        var status = api.GetTensorShapeElementCount(info, &count);
        // ORT refuses to count a shape with symbolic dimensions; that is not an error here.
        var elementCount = status == 0 ? (long)count : -1;
        if (status != 0) api.ReleaseStatus(status);
        return new Info(type, dims, symbols, elementCount);
    }
}
