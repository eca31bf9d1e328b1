using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using Google.Protobuf;

namespace M2SNet.Edge.Grpc;

/// <summary>
/// Facts of the gRPC-over-HTTP/2 wire format: header names, the 5-byte message prefix (a
/// compressed flag and a big-endian length), grpc-timeout and the percent-encoding of grpc-message.
/// </summary>
public static class Wire
{
    public const string ContentType = "application/grpc";
    public const string StatusHeader = "grpc-status";
    public const string MessageHeader = "grpc-message";
    public const string TimeoutHeader = "grpc-timeout";
    public const string EncodingHeader = "grpc-encoding";
    public const string AcceptEncodingHeader = "grpc-accept-encoding";
    public const int PrefixLength = 5;

    /// <summary>Default cap on one received message (grpc's own default is 4 MiB).</summary>
    public const int DefaultMaxReceiveMessageSize = 4 * 1024 * 1024;

    public static bool IsGrpcContentType(string? contentType) =>
        contentType is not null && contentType.StartsWith(ContentType, StringComparison.OrdinalIgnoreCase) &&
        (contentType.Length == ContentType.Length || contentType[ContentType.Length] is '+' or ';');

    /// <summary>Writes one length-prefixed, uncompressed message.</summary>
    public static void WriteMessage(IBufferWriter<byte> output, IMessage message)
    {
        var length = message.CalculateSize();
        var span = output.GetSpan(PrefixLength + length);
        span[0] = 0;
        BinaryPrimitives.WriteUInt32BigEndian(span[1..], (uint)length);
        message.WriteTo(span.Slice(PrefixLength, length));
        output.Advance(PrefixLength + length);
    }

    public static byte[] Frame(IMessage message)
    {
        var buffer = new ArrayBufferWriter<byte>(PrefixLength + message.CalculateSize());
        WriteMessage(buffer, message);
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>Reads a message prefix: false when fewer than 5 bytes are there.</summary>
    public static bool TryReadPrefix(in ReadOnlySequence<byte> buffer, out bool compressed, out uint length)
    {
        compressed = false;
        length = 0;
        if (buffer.Length < PrefixLength) return false;
        Span<byte> prefix = stackalloc byte[PrefixLength];
        buffer.Slice(0, PrefixLength).CopyTo(prefix);
        compressed = prefix[0] != 0;
        length = BinaryPrimitives.ReadUInt32BigEndian(prefix[1..]);
        return true;
    }

    /// <summary>grpc-timeout: up to 8 digits and a unit (H, M, S, m, u, n).</summary>
    public static bool TryParseTimeout(string? value, out TimeSpan timeout)
    {
        timeout = default;
        if (string.IsNullOrEmpty(value) || value.Length < 2 || value.Length > 9) return false;
        if (!long.TryParse(value.AsSpan(0, value.Length - 1), NumberStyles.None, CultureInfo.InvariantCulture, out var amount)) return false;
        var ticks = value[^1] switch
        {
            'H' => amount * TimeSpan.TicksPerHour,
            'M' => amount * TimeSpan.TicksPerMinute,
            'S' => amount * TimeSpan.TicksPerSecond,
            'm' => amount * TimeSpan.TicksPerMillisecond,
            'u' => amount * 10,
            'n' => amount / 100,
            _ => -1,
        };
        if (ticks < 0) return false;
        timeout = TimeSpan.FromTicks(ticks);
        return true;
    }

    public static string FormatTimeout(TimeSpan timeout)
    {
        var ms = Math.Max(0, (long)Math.Ceiling(timeout.TotalMilliseconds));
        return ms < 100_000_000 ? $"{ms}m" : $"{Math.Min(99_999_999, (long)Math.Ceiling(timeout.TotalSeconds))}S";
    }

    /// <summary>grpc-message is UTF-8 with bytes outside printable ASCII, and '%', percent-encoded.</summary>
    public static string EncodeMessage(string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        var sb = new StringBuilder(bytes.Length);
        foreach (var b in bytes)
        {
            if (b is >= 0x20 and <= 0x7E && b != (byte)'%') sb.Append((char)b);
            else sb.Append('%').Append(b.ToString("X2", CultureInfo.InvariantCulture));
        }
        return sb.ToString();
    }

    public static string DecodeMessage(string? value)
    {
        if (string.IsNullOrEmpty(value) || !value.Contains('%')) return value ?? "";
        var bytes = new List<byte>(value.Length);
        for (var i = 0; i < value.Length; i++)
        {
            if (value[i] == '%' && i + 2 < value.Length &&
                byte.TryParse(value.AsSpan(i + 1, 2), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var b))
            {
                bytes.Add(b);
                i += 2;
            }
            else
            {
                bytes.Add((byte)value[i]);
            }
        }
        return Encoding.UTF8.GetString(bytes.ToArray());
    }

    /// <summary>The gRPC status for a response that is not gRPC (the mapping the gRPC specification gives).</summary>
    public static StatusCode StatusFromHttp(int httpStatus) => httpStatus switch
    {
        400 => StatusCode.Internal,
        401 => StatusCode.Unauthenticated,
        403 => StatusCode.PermissionDenied,
        404 => StatusCode.Unimplemented,
        429 or 502 or 503 or 504 => StatusCode.Unavailable,
        _ => StatusCode.Unknown,
    };
}
