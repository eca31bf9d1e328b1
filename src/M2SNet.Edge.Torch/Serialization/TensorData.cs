using System.Runtime.InteropServices;

namespace M2SNet.Edge.Torch.Serialization;

/// <summary>
/// A tensor as stored in a checkpoint, independent of any engine: element type, shape and the
/// elements in row-major order as little-endian bytes.
/// </summary>
public sealed class TensorData
{
    public TensorData(ScalarType dtype, long[] shape, byte[] data)
    {
        long count = 1;
        foreach (var d in shape) count *= d;
        if (count * ScalarTypes.ElementSize(dtype) != data.Length)
        {
            throw new ArgumentException($"{data.Length} bytes do not hold {dtype} [{string.Join(", ", shape)}]");
        }
        DType = dtype;
        Shape = shape;
        Data = data;
    }

    public ScalarType DType { get; }

    public long[] Shape { get; }

    public byte[] Data { get; }

    public long ElementCount => Data.Length / ScalarTypes.ElementSize(DType);

    public string ShapeText => "[" + string.Join(", ", Shape) + "]";

    /// <summary>The values as float32, converting from float16, bfloat16, float64 or integers exactly as a cast would.</summary>
    public float[] ToFloat32()
    {
        var n = (int)ElementCount;
        var result = new float[n];
        var bytes = Data.AsSpan();
        switch (DType)
        {
            case ScalarType.Float32: MemoryMarshal.Cast<byte, float>(bytes).CopyTo(result); break;
            case ScalarType.Float16:
            {
                var h = MemoryMarshal.Cast<byte, Half>(bytes);
                for (var i = 0; i < n; i++) result[i] = (float)h[i];
                break;
            }
            case ScalarType.BFloat16:
            {
                var b = MemoryMarshal.Cast<byte, ushort>(bytes);
                for (var i = 0; i < n; i++) result[i] = BitConverter.Int32BitsToSingle(b[i] << 16);
                break;
            }
            case ScalarType.Float64:
            {
                var d = MemoryMarshal.Cast<byte, double>(bytes);
                for (var i = 0; i < n; i++) result[i] = (float)d[i];
                break;
            }
            case ScalarType.Int64:
            {
                var l = MemoryMarshal.Cast<byte, long>(bytes);
                for (var i = 0; i < n; i++) result[i] = l[i];
                break;
            }
            default: throw new NotSupportedException($"converting {DType} to float32");
        }
        return result;
    }

    public static TensorData FromFloat32(float[] values, params long[] shape) =>
        new(ScalarType.Float32, shape, MemoryMarshal.AsBytes(values.AsSpan()).ToArray());

    public override string ToString() => $"{DType} {ShapeText}";
}
