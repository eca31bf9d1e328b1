using System.Buffers.Binary;
using System.Text;

namespace M2SNet.Edge.Torch.Serialization;

/// <summary>A module-level name a pickle refers to, e.g. collections.OrderedDict.</summary>
public sealed record PickleGlobal(string Module, string Name)
{
    public override string ToString() => $"{Module}.{Name}";
}

/// <summary>A dictionary as pickled: insertion-ordered key/value pairs.</summary>
public sealed class PickleDict
{
    /// <summary>True for a collections.OrderedDict (what state_dict() returns), false for a plain dict.</summary>
    public bool IsOrdered { get; init; }

    public List<KeyValuePair<object?, object?>> Items { get; } = [];

    public void Add(string key, object? value) => Items.Add(new(key, value));

    public object? this[string key] => Items.FirstOrDefault(p => p.Key is string s && s == key).Value;

    public bool ContainsKey(string key) => Items.Any(p => p.Key is string s && s == key);
}

/// <summary>An object the reader does not model: the callable and its arguments.</summary>
public sealed record PickleObject(PickleGlobal Callable, object?[] Arguments);

/// <summary>
/// Reads the subset of Python's pickle protocol (2 to 5) that torch.save writes for state dicts
/// and training checkpoints: dicts, lists, tuples, numbers, strings, globals, persistent ids.
/// Objects are built through <paramref name="reduce"/> so the caller decides what a call means.
/// </summary>
internal sealed class Unpickler(
    byte[] data,
    Func<object?, object?> persistentLoad,
    Func<PickleGlobal, object?[], object?> reduce)
{
    private static readonly object s_mark = new();
    private readonly List<object?> _stack = [];
    private readonly Dictionary<long, object?> _memo = [];
    private int _pos;

    public object? Load()
    {
        try
        {
            return Run();
        }
        catch (Exception e) when (e is InvalidCastException or NullReferenceException or OverflowException or ArgumentException or IndexOutOfRangeException or FormatException)
        {
            // A damaged pickle puts values of another kind where an opcode expects a name, a list, a tuple or a count.
            throw new InvalidDataException($"the pickle is damaged near byte {_pos}: {e.Message}", e);
        }
    }

    private object? Run()
    {
        while (true)
        {
            var op = ReadByte();
            switch (op)
            {
                case 0x80: ReadByte(); break; // PROTO
                case 0x95: _pos += 8; break; // FRAME: length of the next frame, not needed here
                case (byte)'.': return Pop(); // STOP
                case (byte)'(': _stack.Add(s_mark); break; // MARK
                case (byte)'}': _stack.Add(new PickleDict()); break; // EMPTY_DICT
                case (byte)']': _stack.Add(new List<object?>()); break; // EMPTY_LIST
                case (byte)')': _stack.Add(Array.Empty<object?>()); break; // EMPTY_TUPLE
                case (byte)'N': _stack.Add(null); break;
                case 0x88: _stack.Add(true); break; // NEWTRUE
                case 0x89: _stack.Add(false); break; // NEWFALSE
                case (byte)'K': _stack.Add((long)ReadByte()); break; // BININT1
                case (byte)'M': _stack.Add((long)BinaryPrimitives.ReadUInt16LittleEndian(Take(2))); break; // BININT2
                case (byte)'J': _stack.Add((long)BinaryPrimitives.ReadInt32LittleEndian(Take(4))); break; // BININT
                case 0x8a: _stack.Add(ReadLong(ReadByte())); break; // LONG1
                case 0x8b: _stack.Add(ReadLong(checked((int)BinaryPrimitives.ReadUInt32LittleEndian(Take(4))))); break; // LONG4
                case (byte)'G': _stack.Add(BinaryPrimitives.ReadDoubleBigEndian(Take(8))); break; // BINFLOAT
                case (byte)'X': _stack.Add(Encoding.UTF8.GetString(Take(checked((int)BinaryPrimitives.ReadUInt32LittleEndian(Take(4)))))); break; // BINUNICODE
                case 0x8c: _stack.Add(Encoding.UTF8.GetString(Take(ReadByte()))); break; // SHORT_BINUNICODE
                case 0x8d: _stack.Add(Encoding.UTF8.GetString(Take(checked((int)BinaryPrimitives.ReadUInt64LittleEndian(Take(8)))))); break; // BINUNICODE8
                case (byte)'T': _stack.Add(Take(checked((int)BinaryPrimitives.ReadUInt32LittleEndian(Take(4)))).ToArray()); break; // BINSTRING
                case (byte)'U': _stack.Add(Take(ReadByte()).ToArray()); break; // SHORT_BINSTRING
                case (byte)'B': _stack.Add(Take(checked((int)BinaryPrimitives.ReadUInt32LittleEndian(Take(4)))).ToArray()); break; // BINBYTES
                case (byte)'C': _stack.Add(Take(ReadByte()).ToArray()); break; // SHORT_BINBYTES
                case (byte)'c': _stack.Add(new PickleGlobal(ReadLine(), ReadLine())); break; // GLOBAL
                case 0x93: // STACK_GLOBAL
                {
                    var name = (string)Pop()!;
                    var module = (string)Pop()!;
                    _stack.Add(new PickleGlobal(module, name));
                    break;
                }
                case (byte)'q': _memo[ReadByte()] = Peek(); break; // BINPUT
                case (byte)'r': _memo[BinaryPrimitives.ReadUInt32LittleEndian(Take(4))] = Peek(); break; // LONG_BINPUT
                case 0x94: _memo[_memo.Count] = Peek(); break; // MEMOIZE
                case (byte)'h': _stack.Add(Memo(ReadByte())); break; // BINGET
                case (byte)'j': _stack.Add(Memo(BinaryPrimitives.ReadUInt32LittleEndian(Take(4)))); break; // LONG_BINGET
                case (byte)'t': _stack.Add(PopToMark().ToArray()); break; // TUPLE
                case 0x85: _stack.Add(new[] { Pop() }); break; // TUPLE1
                case 0x86: { var b = Pop(); var a = Pop(); _stack.Add(new[] { a, b }); break; } // TUPLE2
                case 0x87: { var c = Pop(); var b = Pop(); var a = Pop(); _stack.Add(new[] { a, b, c }); break; } // TUPLE3
                case (byte)'l': _stack.Add(PopToMark()); break; // LIST
                case (byte)'a': { var v = Pop(); ((List<object?>)Peek()!).Add(v); break; } // APPEND
                case (byte)'e': { var items = PopToMark(); ((List<object?>)Peek()!).AddRange(items); break; } // APPENDS
                case (byte)'d': _stack.Add(ToDict(PopToMark())); break; // DICT
                case (byte)'s': { var v = Pop(); var k = Pop(); AsDict(Peek()).Items.Add(new(k, v)); break; } // SETITEM
                case (byte)'u': // SETITEMS
                {
                    var items = PopToMark();
                    var dict = AsDict(Peek());
                    for (var i = 0; i + 1 < items.Count; i += 2) dict.Items.Add(new(items[i], items[i + 1]));
                    break;
                }
                case (byte)'R': // REDUCE
                {
                    var args = (object?[])Pop()!;
                    var callable = (PickleGlobal)Pop()!;
                    _stack.Add(reduce(callable, args));
                    break;
                }
                case 0x81: // NEWOBJ: cls.__new__(cls, *args)
                {
                    var args = (object?[])Pop()!;
                    var cls = (PickleGlobal)Pop()!;
                    _stack.Add(reduce(cls, args));
                    break;
                }
                case (byte)'b': Pop(); break; // BUILD: instance state (OrderedDict _metadata); not needed
                case (byte)'Q': _stack.Add(persistentLoad(Pop())); break; // BINPERSID
                case (byte)'0': Pop(); break; // POP
                case (byte)'2': _stack.Add(Peek()); break; // DUP
                case (byte)'1': PopToMark(); break; // POP_MARK
                default:
                    throw new InvalidDataException($"pickle opcode 0x{op:x2} at byte {_pos - 1} is not supported");
            }
        }
    }

    private static PickleDict AsDict(object? o) =>
        o as PickleDict ?? throw new InvalidDataException($"pickle SETITEM on a {o?.GetType().Name ?? "null"}, not a dict");

    private static PickleDict ToDict(List<object?> items)
    {
        var d = new PickleDict();
        for (var i = 0; i + 1 < items.Count; i += 2) d.Items.Add(new(items[i], items[i + 1]));
        return d;
    }

    private object? Memo(long key) =>
        _memo.TryGetValue(key, out var v) ? v : throw new InvalidDataException($"pickle memo entry {key} is missing");

    private byte ReadByte()
    {
        if (_pos >= data.Length) throw new InvalidDataException("the pickle ends early (truncated file?)");
        return data[_pos++];
    }

    private ReadOnlySpan<byte> Take(int n)
    {
        if (n < 0 || n > data.Length - _pos) throw new InvalidDataException("the pickle ends early (truncated file?)");
        var s = data.AsSpan(_pos, n);
        _pos += n;
        return s;
    }

    private string ReadLine()
    {
        var end = Array.IndexOf(data, (byte)'\n', _pos);
        if (end < 0) throw new InvalidDataException("the pickle ends early (truncated file?)");
        var s = Encoding.ASCII.GetString(data, _pos, end - _pos);
        _pos = end + 1;
        return s;
    }

    private long ReadLong(int n)
    {
        var bytes = Take(n);
        if (n > 8) throw new InvalidDataException($"pickled integer of {n} bytes is too large");
        long v = 0;
        for (var i = n - 1; i >= 0; i--) v = (v << 8) | bytes[i];
        if (n is > 0 and < 8 && (bytes[n - 1] & 0x80) != 0) v -= 1L << (8 * n); // two's complement sign
        return v;
    }

    private object? Pop()
    {
        if (_stack.Count == 0) throw new InvalidDataException("pickle stack underflow (corrupt file?)");
        var v = _stack[^1];
        _stack.RemoveAt(_stack.Count - 1);
        return v;
    }

    private object? Peek() => _stack.Count > 0 ? _stack[^1] : throw new InvalidDataException("pickle stack underflow (corrupt file?)");

    private List<object?> PopToMark()
    {
        var i = _stack.LastIndexOf(s_mark);
        if (i < 0) throw new InvalidDataException("pickle MARK missing (corrupt file?)");
        var items = _stack.GetRange(i + 1, _stack.Count - i - 1);
        _stack.RemoveRange(i, _stack.Count - i);
        return items;
    }
}
