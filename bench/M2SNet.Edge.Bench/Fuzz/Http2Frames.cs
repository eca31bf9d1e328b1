using System.Buffers.Binary;
using System.Net.Sockets;
using System.Text;

namespace M2SNet.Edge.Bench.Fuzz;

/// <summary>HTTP/2 frame types (RFC 9113 §6).</summary>
internal enum Http2FrameType : byte
{
    Data = 0,
    Headers = 1,
    Priority = 2,
    RstStream = 3,
    Settings = 4,
    PushPromise = 5,
    Ping = 6,
    GoAway = 7,
    WindowUpdate = 8,
    Continuation = 9,
}

/// <summary>HTTP/2 error codes (RFC 9113 §7), as GOAWAY and RST_STREAM carry them.</summary>
internal enum Http2Error : uint
{
    NO_ERROR = 0,
    PROTOCOL_ERROR = 1,
    INTERNAL_ERROR = 2,
    FLOW_CONTROL_ERROR = 3,
    SETTINGS_TIMEOUT = 4,
    STREAM_CLOSED = 5,
    FRAME_SIZE_ERROR = 6,
    REFUSED_STREAM = 7,
    CANCEL = 8,
    COMPRESSION_ERROR = 9,
    CONNECT_ERROR = 10,
    ENHANCE_YOUR_CALM = 11,
    INADEQUATE_SECURITY = 12,
    HTTP_1_1_REQUIRED = 13,
}

/// <summary>
/// Writes HTTP/2 frames byte by byte, so they can be as wrong as a fuzzer wants: a 9-byte header
/// (24-bit payload length, 8-bit type, 8-bit flags, a reserved bit and a 31-bit stream id) and the
/// payload; and the few HPACK representations (RFC 7541) a request needs.
/// </summary>
internal static class Http2Frames
{
    public const byte EndStream = 0x1;
    public const byte Ack = 0x1;
    public const byte EndHeaders = 0x4;

    public static byte[] Preface => "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8.ToArray();

    /// <summary>A frame; <paramref name="declaredLength"/> puts another length in the header than the payload has.</summary>
    public static byte[] Frame(byte type, byte flags, uint streamId, ReadOnlySpan<byte> payload, int? declaredLength = null)
    {
        var frame = new byte[9 + payload.Length];
        var length = declaredLength ?? payload.Length;
        frame[0] = (byte)(length >> 16);
        frame[1] = (byte)(length >> 8);
        frame[2] = (byte)length;
        frame[3] = type;
        frame[4] = flags;
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(5), streamId);
        payload.CopyTo(frame.AsSpan(9));
        return frame;
    }

    public static byte[] Frame(Http2FrameType type, byte flags, uint streamId, ReadOnlySpan<byte> payload) => Frame((byte)type, flags, streamId, payload);

    public static byte[] Settings(params (ushort Id, uint Value)[] settings)
    {
        var payload = new byte[6 * settings.Length];
        for (var i = 0; i < settings.Length; i++)
        {
            BinaryPrimitives.WriteUInt16BigEndian(payload.AsSpan(6 * i), settings[i].Id);
            BinaryPrimitives.WriteUInt32BigEndian(payload.AsSpan(6 * i + 2), settings[i].Value);
        }
        return Frame(Http2FrameType.Settings, 0, 0, payload);
    }

    public static byte[] Ping(ulong data, bool ack = false)
    {
        Span<byte> payload = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(payload, data);
        return Frame(Http2FrameType.Ping, ack ? Ack : (byte)0, 0, payload);
    }

    public static byte[] U32(Http2FrameType type, uint streamId, uint value, byte flags = 0)
    {
        Span<byte> payload = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(payload, value);
        return Frame(type, flags, streamId, payload);
    }

    public static byte[] Priority(uint streamId, uint dependsOn, byte weight)
    {
        Span<byte> payload = stackalloc byte[5];
        BinaryPrimitives.WriteUInt32BigEndian(payload, dependsOn);
        payload[4] = weight;
        return Frame(Http2FrameType.Priority, 0, streamId, payload);
    }

    /// <summary>The header block of a gRPC POST to <paramref name="path"/>, with any <paramref name="extra"/> fields as literals.</summary>
    public static byte[] RequestBlock(string path, params (string Name, string Value)[] extra)
    {
        var block = new List<byte> { 0x83, 0x86 }; // :method POST, :scheme http (static table 3 and 6)
        block.AddRange(LiteralIndexedName(4, path)); // :path
        block.AddRange(LiteralIndexedName(1, "127.0.0.1")); // :authority
        block.AddRange(LiteralIndexedName(31, "application/grpc")); // content-type
        block.AddRange(Literal("te", "trailers"));
        foreach (var (name, value) in extra) block.AddRange(Literal(name, value));
        return [.. block];
    }

    /// <summary>A literal header field without indexing, new name (RFC 7541 §6.2.2).</summary>
    public static byte[] Literal(string name, string value) => [0x00, .. HpackString(name), .. HpackString(value)];

    /// <summary>A literal header field without indexing whose name is static table entry <paramref name="index"/>.</summary>
    public static byte[] LiteralIndexedName(int index, string value) => [.. HpackInteger(index, 4, 0x00), .. HpackString(value)];

    public static byte[] HpackString(string text)
    {
        var bytes = Encoding.ASCII.GetBytes(text);
        return [.. HpackInteger(bytes.Length, 7, 0x00), .. bytes];
    }

    /// <summary>An HPACK integer with an N-bit prefix (RFC 7541 §5.1).</summary>
    public static byte[] HpackInteger(int value, int prefixBits, byte flags)
    {
        var max = (1 << prefixBits) - 1;
        if (value < max) return [(byte)(flags | value)];
        var bytes = new List<byte> { (byte)(flags | max) };
        value -= max;
        while (value >= 128)
        {
            bytes.Add((byte)(value % 128 + 128));
            value /= 128;
        }
        bytes.Add((byte)value);
        return [.. bytes];
    }
}

/// <summary>Reads the frames a server sends on a raw socket, until it closes, with a deadline.</summary>
internal sealed class Http2FrameReader(Socket socket)
{
    private readonly byte[] _buffer = new byte[1 << 16];
    private int _start;
    private int _end;

    /// <summary>The next frame; null when the connection ended (closed or reset).</summary>
    public async Task<(byte Type, byte Flags, uint Stream, byte[] Payload)?> NextAsync(CancellationToken cancel)
    {
        if (!await FillAsync(9, cancel).ConfigureAwait(false)) return null;
        var length = (_buffer[_start] << 16) | (_buffer[_start + 1] << 8) | _buffer[_start + 2];
        var (type, flags) = (_buffer[_start + 3], _buffer[_start + 4]);
        var stream = BinaryPrimitives.ReadUInt32BigEndian(_buffer.AsSpan(_start + 5)) & 0x7FFFFFFF;
        if (length > _buffer.Length - 9) return null;
        if (!await FillAsync(9 + length, cancel).ConfigureAwait(false)) return null;
        var payload = _buffer.AsSpan(_start + 9, length).ToArray();
        _start += 9 + length;
        return (type, flags, stream, payload);
    }

    /// <summary>The first bytes the server sent, for answers that are not HTTP/2 (an HTTP/1.1 status line).</summary>
    public async Task<string> PeekTextAsync(int count, CancellationToken cancel)
    {
        await FillAsync(count, cancel).ConfigureAwait(false);
        return Encoding.ASCII.GetString(_buffer, _start, Math.Min(count, _end - _start));
    }

    private async Task<bool> FillAsync(int count, CancellationToken cancel)
    {
        if (_start > 0 && _end - _start < count)
        {
            Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
            (_end, _start) = (_end - _start, 0);
        }
        while (_end - _start < count)
        {
            int read;
            try
            {
                read = await socket.ReceiveAsync(_buffer.AsMemory(_end), SocketFlags.None, cancel).ConfigureAwait(false);
            }
            catch (SocketException)
            {
                return false;
            }
            if (read == 0) return false;
            _end += read;
        }
        return true;
    }
}
