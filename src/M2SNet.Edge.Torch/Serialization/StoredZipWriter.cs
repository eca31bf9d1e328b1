using System.Buffers.Binary;
using System.Text;

namespace M2SNet.Edge.Torch.Serialization;

/// <summary>
/// A zip writer for uncompressed ("stored") entries whose data starts at 64-byte offsets, as
/// PyTorch's own writer lays them out (so a reader may map them directly).
/// </summary>
internal sealed class StoredZipWriter(Stream output) : IDisposable
{
    private const int Alignment = 64;
    private readonly List<(string Name, uint Crc, long Size, long Offset)> _entries = [];

    public void Add(string name, ReadOnlySpan<byte> data)
    {
        var nameBytes = Encoding.UTF8.GetBytes(name);
        var offset = output.Position;
        var headerEnd = offset + 30 + nameBytes.Length + 4; // 4: the padding extra field's own header
        var padding = (int)((Alignment - headerEnd % Alignment) % Alignment);
        var crc = Crc32.Compute(data);
        if (offset + data.Length >= uint.MaxValue) throw new NotSupportedException("checkpoints over 4 GiB (ZIP64)");

        Span<byte> h = stackalloc byte[30];
        BinaryPrimitives.WriteUInt32LittleEndian(h, 0x04034b50);
        BinaryPrimitives.WriteUInt16LittleEndian(h[4..], 20); // version needed
        BinaryPrimitives.WriteUInt16LittleEndian(h[6..], 0); // flags
        BinaryPrimitives.WriteUInt16LittleEndian(h[8..], 0); // stored
        BinaryPrimitives.WriteUInt16LittleEndian(h[10..], 0); // time
        BinaryPrimitives.WriteUInt16LittleEndian(h[12..], 0x21); // date 1980-01-01
        BinaryPrimitives.WriteUInt32LittleEndian(h[14..], crc);
        BinaryPrimitives.WriteUInt32LittleEndian(h[18..], (uint)data.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(h[22..], (uint)data.Length);
        BinaryPrimitives.WriteUInt16LittleEndian(h[26..], (ushort)nameBytes.Length);
        BinaryPrimitives.WriteUInt16LittleEndian(h[28..], (ushort)(4 + padding));
        output.Write(h);
        output.Write(nameBytes);
        Span<byte> extra = stackalloc byte[4];
        BinaryPrimitives.WriteUInt16LittleEndian(extra, 0x4246); // "FB": padding
        BinaryPrimitives.WriteUInt16LittleEndian(extra[2..], (ushort)padding);
        output.Write(extra);
        output.Write(new byte[padding]);
        output.Write(data);
        _entries.Add((name, crc, data.Length, offset));
    }

    public void Dispose()
    {
        var directoryStart = output.Position;
        Span<byte> c = stackalloc byte[46];
        foreach (var (name, crc, size, offset) in _entries)
        {
            var nameBytes = Encoding.UTF8.GetBytes(name);
            BinaryPrimitives.WriteUInt32LittleEndian(c, 0x02014b50);
            BinaryPrimitives.WriteUInt16LittleEndian(c[4..], 20); // made by
            BinaryPrimitives.WriteUInt16LittleEndian(c[6..], 20); // needed
            BinaryPrimitives.WriteUInt16LittleEndian(c[8..], 0);
            BinaryPrimitives.WriteUInt16LittleEndian(c[10..], 0);
            BinaryPrimitives.WriteUInt16LittleEndian(c[12..], 0);
            BinaryPrimitives.WriteUInt16LittleEndian(c[14..], 0x21);
            BinaryPrimitives.WriteUInt32LittleEndian(c[16..], crc);
            BinaryPrimitives.WriteUInt32LittleEndian(c[20..], (uint)size);
            BinaryPrimitives.WriteUInt32LittleEndian(c[24..], (uint)size);
            BinaryPrimitives.WriteUInt16LittleEndian(c[28..], (ushort)nameBytes.Length);
            BinaryPrimitives.WriteUInt16LittleEndian(c[30..], 0); // extra
            BinaryPrimitives.WriteUInt16LittleEndian(c[32..], 0); // comment
            BinaryPrimitives.WriteUInt16LittleEndian(c[34..], 0); // disk
            BinaryPrimitives.WriteUInt16LittleEndian(c[36..], 0); // internal attributes
            BinaryPrimitives.WriteUInt32LittleEndian(c[38..], 0); // external attributes
            BinaryPrimitives.WriteUInt32LittleEndian(c[42..], (uint)offset);
            output.Write(c);
            output.Write(nameBytes);
        }
        var directorySize = output.Position - directoryStart;
        Span<byte> end = stackalloc byte[22];
        BinaryPrimitives.WriteUInt32LittleEndian(end, 0x06054b50);
        BinaryPrimitives.WriteUInt16LittleEndian(end[8..], (ushort)_entries.Count);
        BinaryPrimitives.WriteUInt16LittleEndian(end[10..], (ushort)_entries.Count);
        BinaryPrimitives.WriteUInt32LittleEndian(end[12..], (uint)directorySize);
        BinaryPrimitives.WriteUInt32LittleEndian(end[16..], (uint)directoryStart);
        output.Write(end);
        output.Flush();
        if (output is FileStream fs) fs.Flush(flushToDisk: true);
        output.Dispose();
    }
}

/// <summary>CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320) as zip archives use it.</summary>
internal static class Crc32
{
    private static readonly uint[] s_table = BuildTable();

    public static uint Compute(ReadOnlySpan<byte> data)
    {
        var crc = 0xFFFFFFFFu;
        foreach (var b in data) crc = s_table[(crc ^ b) & 0xFF] ^ (crc >> 8);
        return ~crc;
    }

    private static uint[] BuildTable()
    {
        var table = new uint[256];
        for (uint i = 0; i < 256; i++)
        {
            var c = i;
            for (var k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            table[i] = c;
        }
        return table;
    }
}
