using System.Runtime.InteropServices;
using System.Text;

namespace M2SNet.Edge.OnnxRuntime.Native;

/// <summary>NUL-terminated UTF-8 strings in native memory, for the few calls that take <c>const char*</c>.</summary>
internal sealed unsafe class Utf8Strings : IDisposable
{
    private readonly List<nint> _allocations = [];

    public byte* Add(string value)
    {
        var bytes = Encoding.UTF8.GetByteCount(value);
        var p = (byte*)NativeMemory.Alloc((nuint)bytes + 1);
        _allocations.Add((nint)p);
        Encoding.UTF8.GetBytes(value, new Span<byte>(p, bytes));
        p[bytes] = 0;
        return p;
    }

    public byte** AddArray(IReadOnlyList<string> values)
    {
        var array = (byte**)NativeMemory.Alloc((nuint)Math.Max(values.Count, 1), (nuint)sizeof(nint));
        _allocations.Add((nint)array);
        for (var i = 0; i < values.Count; i++) array[i] = Add(values[i]);
        return array;
    }

    public void Dispose()
    {
        foreach (var p in _allocations) NativeMemory.Free((void*)p);
        _allocations.Clear();
    }
}
