using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace M2SNet.Edge.Torch.Serialization;

/// <summary>
/// Writes an object tree as a protocol-2 pickle in torch.save's layout: each tensor is a call of
/// torch._utils._rebuild_tensor_v2 over a persistent storage id ('storage', type, key, 'cpu', numel).
/// The storages are collected in <see cref="Storages"/> for the archive.
/// </summary>
internal sealed class Pickler
{
    private readonly MemoryStream _out = new();

    public List<TensorData> Storages { get; } = [];

    public byte[] Dump(object? root)
    {
        _out.WriteByte(0x80); // PROTO 2
        _out.WriteByte(2);
        Write(root);
        _out.WriteByte((byte)'.'); // STOP
        return _out.ToArray();
    }

    private void Write(object? value)
    {
        switch (value)
        {
            case null: _out.WriteByte((byte)'N'); break;
            case bool b: _out.WriteByte(b ? (byte)0x88 : (byte)0x89); break;
            case string s: WriteString(s); break;
            case int i: WriteInt(i); break;
            case long l: WriteInt(l); break;
            case float f: WriteFloat(f); break;
            case double d: WriteFloat(d); break;
            case TensorData t: WriteTensor(t); break;
            case PickleDict d: WriteDict(d); break;
            case IEnumerable<KeyValuePair<string, TensorData>> stateDict: WriteDict(ToOrderedDict(stateDict)); break;
            case System.Collections.IList list: WriteList(list); break;
            default: throw new NotSupportedException($"cannot write a {value.GetType().Name} into a checkpoint");
        }
    }

    private static PickleDict ToOrderedDict(IEnumerable<KeyValuePair<string, TensorData>> entries)
    {
        var d = new PickleDict { IsOrdered = true };
        foreach (var (k, v) in entries) d.Add(k, v);
        return d;
    }

    private void WriteDict(PickleDict d)
    {
        if (d.IsOrdered)
        {
            WriteGlobal("collections", "OrderedDict");
            _out.WriteByte((byte)')'); // EMPTY_TUPLE
            _out.WriteByte((byte)'R'); // REDUCE
        }
        else
        {
            _out.WriteByte((byte)'}'); // EMPTY_DICT
        }
        // SETITEMS in batches, as the pickle module does.
        for (var start = 0; start < d.Items.Count; start += 1000)
        {
            _out.WriteByte((byte)'(');
            foreach (var (k, v) in d.Items.Skip(start).Take(1000))
            {
                Write(k);
                Write(v);
            }
            _out.WriteByte((byte)'u');
        }
    }

    private void WriteList(System.Collections.IList list)
    {
        _out.WriteByte((byte)']'); // EMPTY_LIST
        if (list.Count == 0) return;
        _out.WriteByte((byte)'(');
        foreach (var item in list) Write(item);
        _out.WriteByte((byte)'e'); // APPENDS
    }

    private void WriteTensor(TensorData t)
    {
        var key = Storages.Count.ToString(CultureInfo.InvariantCulture);
        Storages.Add(t);
        WriteGlobal("torch._utils", "_rebuild_tensor_v2");
        _out.WriteByte((byte)'(');
        // persistent id: ('storage', torch.<Type>Storage, key, 'cpu', numel)
        _out.WriteByte((byte)'(');
        WriteString("storage");
        WriteGlobal("torch", StorageName(t.DType));
        WriteString(key);
        WriteString("cpu");
        WriteInt(t.ElementCount);
        _out.WriteByte((byte)'t');
        _out.WriteByte((byte)'Q'); // BINPERSID
        WriteInt(0); // storage offset
        WriteTuple(t.Shape);
        WriteTuple(RowMajorStrides(t.Shape));
        _out.WriteByte(0x89); // requires_grad = False
        WriteGlobal("collections", "OrderedDict"); // backward hooks
        _out.WriteByte((byte)')');
        _out.WriteByte((byte)'R');
        _out.WriteByte((byte)'t');
        _out.WriteByte((byte)'R');
    }

    private void WriteTuple(long[] values)
    {
        _out.WriteByte((byte)'(');
        foreach (var v in values) WriteInt(v);
        _out.WriteByte((byte)'t');
    }

    private static long[] RowMajorStrides(long[] shape)
    {
        var strides = new long[shape.Length];
        long s = 1;
        for (var i = shape.Length - 1; i >= 0; i--)
        {
            strides[i] = s;
            s *= shape[i];
        }
        return strides;
    }

    private static string StorageName(ScalarType t) => t switch
    {
        ScalarType.Float32 => "FloatStorage",
        ScalarType.Float16 => "HalfStorage",
        ScalarType.BFloat16 => "BFloat16Storage",
        ScalarType.Float64 => "DoubleStorage",
        ScalarType.Int64 => "LongStorage",
        ScalarType.Int32 => "IntStorage",
        ScalarType.Int16 => "ShortStorage",
        ScalarType.Int8 => "CharStorage",
        ScalarType.Byte => "ByteStorage",
        ScalarType.Bool => "BoolStorage",
        _ => throw new NotSupportedException($"{t} tensors"),
    };

    private void WriteGlobal(string module, string name)
    {
        _out.WriteByte((byte)'c');
        _out.Write(Encoding.ASCII.GetBytes($"{module}\n{name}\n"));
    }

    private void WriteString(string s)
    {
        var bytes = Encoding.UTF8.GetBytes(s);
        _out.WriteByte((byte)'X');
        Span<byte> n = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(n, (uint)bytes.Length);
        _out.Write(n);
        _out.Write(bytes);
    }

    private void WriteInt(long v)
    {
        if (v is >= 0 and < 256)
        {
            _out.WriteByte((byte)'K');
            _out.WriteByte((byte)v);
        }
        else if (v is >= int.MinValue and <= int.MaxValue)
        {
            _out.WriteByte((byte)'J');
            Span<byte> b = stackalloc byte[4];
            BinaryPrimitives.WriteInt32LittleEndian(b, (int)v);
            _out.Write(b);
        }
        else
        {
            _out.WriteByte(0x8a); // LONG1, 8 bytes two's complement
            _out.WriteByte(8);
            Span<byte> b = stackalloc byte[8];
            BinaryPrimitives.WriteInt64LittleEndian(b, v);
            _out.Write(b);
        }
    }

    private void WriteFloat(double v)
    {
        _out.WriteByte((byte)'G');
        Span<byte> b = stackalloc byte[8];
        BinaryPrimitives.WriteDoubleBigEndian(b, v);
        _out.Write(b);
    }
}
