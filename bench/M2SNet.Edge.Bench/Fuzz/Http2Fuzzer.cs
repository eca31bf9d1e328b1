using System.Net;
using System.Net.Sockets;
using System.Text;
using M2SNet.Edge.Protocol.V1;
using static M2SNet.Edge.Bench.Fuzz.Http2Frames;

namespace M2SNet.Edge.Bench.Fuzz;

/// <summary>
/// HTTP/2 misuse on raw TCP connections to the gRPC port, one connection per input: garbage and
/// damaged connection prefaces, HTTP/1.1 requests, and after a valid preface random frames,
/// frames of impossible lengths, zero window updates, out-of-range SETTINGS, PRIORITY on stream 0,
/// bounded RST_STREAM floods, HEADERS with invalid HPACK, CONTINUATION without HEADERS, frames on
/// the wrong streams, malformed request headers.
/// <para>
/// The answer is Kestrel's, not the daemon's: the rule is that within <see cref="AnswerBound"/>
/// the connection ends (GOAWAY, with an error code or NO_ERROR's graceful close, or closed) or, still open, answers a PING sent
/// after the input (the input was ignored or refused per stream, as HTTP/2 allows); silence is
/// unacceptable. The daemon serving other clients meanwhile is checked by the viewer.
/// </para>
/// </summary>
internal sealed class Http2Fuzzer(IPEndPoint endpoint) : IFuzzTarget
{
    public static readonly TimeSpan AnswerBound = TimeSpan.FromSeconds(5);

    private const ulong ProbeData = 0x6D32732D66757A7A; // "m2s-fuzz"

    private static readonly string GetInfo = $"/{Segmentation.Descriptor.FullName}/GetInfo";

    public string Category => "http2";

    public async Task<FuzzAnswer> RunAsync(Random r, CancellationToken cancel)
    {
        var (bytes, what, halfClose) = Generate(r);
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(endpoint, cancel).ConfigureAwait(false);
        try
        {
            await socket.SendAsync(bytes, SocketFlags.None, cancel).ConfigureAwait(false);
            // A connection left mid-frame can only be answered once the server sees the end of it.
            if (halfClose) socket.Shutdown(SocketShutdown.Send);
            else await socket.SendAsync(Ping(ProbeData), SocketFlags.None, cancel).ConfigureAwait(false);
        }
        catch (SocketException)
        {
            // The server already closed the connection; what it said before that is read below.
        }
        using var bound = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        bound.CancelAfter(AnswerBound);
        var reader = new Http2FrameReader(socket);
        string? reset = null;
        try
        {
            if (!bytes.AsSpan().StartsWith(Preface) && (await reader.PeekTextAsync(9, bound.Token).ConfigureAwait(false)).StartsWith("HTTP/1.", StringComparison.Ordinal))
            {
                return new FuzzAnswer(what, "HTTP/1.1 answer", true, await reader.PeekTextAsync(64, bound.Token).ConfigureAwait(false));
            }
            while (await reader.NextAsync(bound.Token).ConfigureAwait(false) is { } frame)
            {
                switch ((Http2FrameType)frame.Type)
                {
                    case Http2FrameType.GoAway when frame.Payload.Length >= 8:
                    {
                        var code = (Http2Error)System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(frame.Payload.AsSpan(4));
                        var debug = Encoding.UTF8.GetString(frame.Payload.AsSpan(8));
                        // Any code ends the connection: NO_ERROR is Kestrel's graceful close (after a client's GOAWAY, or a half-closed input).
                        return new FuzzAnswer(what, $"GOAWAY {code}", true, debug);
                    }
                    case Http2FrameType.RstStream when frame.Payload.Length == 4:
                        reset ??= $"RST_STREAM {(Http2Error)System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(frame.Payload)}";
                        break;
                    case Http2FrameType.Ping when (frame.Flags & Ack) != 0 && frame.Payload.Length == 8
                                                  && System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(frame.Payload) == ProbeData:
                        return new FuzzAnswer(what, reset is null ? "PING answered" : $"{reset}, PING answered", true, "the connection is still served");
                }
            }
            return new FuzzAnswer(what, reset is null ? "closed" : $"{reset}, closed", true, "the server closed the connection");
        }
        catch (OperationCanceledException) when (!cancel.IsCancellationRequested)
        {
            return new FuzzAnswer(what, "silent", false, $"no GOAWAY, close or PING answer within {AnswerBound.TotalSeconds:0} s");
        }
    }

    /// <summary>The bytes to send, what they are, and whether the connection is half-closed after them (no PING probe).</summary>
    private static (byte[] Bytes, string What, bool HalfClose) Generate(Random r)
    {
        byte[] Start() => [.. Preface, .. Settings()];
        uint Odd() => (uint)(2 * r.Next(0, 1 << 20) + 1);
        switch (r.Next(18))
        {
            case 0:
            {
                var (bytes, what) = r.Next(2) == 0 ? ByteMutations.FlipBits(Preface, r) : (ByteMutations.RandomBytes(r, r.Next(24, 100)), "random bytes");
                // Half-closed: Kestrel waits for more of a connection whose first bytes are not the preface
                // (looking for an HTTP/1.x request line) until its KeepAliveTimeout, 130 s, measured once; the end of input must end it at once.
                return ([.. bytes, .. new byte[Math.Max(0, 24 - bytes.Length)], .. Settings()], $"preface: {what}", true);
            }
            case 1:
            {
                string[] requests =
                [
                    "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
                    $"POST {GetInfo} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/grpc\r\nContent-Length: 5\r\n\r\n\0\0\0\0\0",
                    "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n",
                    "PRI * HTTP/1.1\r\n\r\n\r\n\r\n\r\n\r\n",
                    "OPTIONS * HTTP/1.0\r\n\r\n\r\n\r\n\r\n\r\n",
                ];
                var text = requests[r.Next(requests.Length)];
                return (Encoding.ASCII.GetBytes(text), "HTTP/1.1: " + text[..text.IndexOf('\r', StringComparison.Ordinal)], r.Next(2) == 0);
            }
            case 2:
            {
                var (type, flags, stream) = ((byte)r.Next(256), (byte)r.Next(256), r.Next(3) == 0 ? 0u : (uint)r.Next());
                var payload = ByteMutations.RandomBytes(r, r.Next(0, 64));
                return ([.. Start(), .. Frame(type, flags, stream, payload)], $"frame type {type} flags 0x{flags:x2} stream {stream}, {payload.Length} random bytes", false);
            }
            case 3:
            {
                var length = r.Next(16_385, 1 << 24);
                var type = (byte)r.Next(0, 10);
                return ([.. Start(), .. Frame(type, 0, r.Next(2) == 0 ? 0 : Odd(), ByteMutations.RandomBytes(r, 16), declaredLength: length)],
                    $"type {type} frame declaring {length} bytes (over the 16384 frame size)", false);
            }
            case 4:
            {
                var stream = r.Next(2) == 0 ? 0 : Odd();
                byte[] open = stream == 0 ? [] : Frame(Http2FrameType.Headers, EndHeaders, stream, RequestBlock(GetInfo));
                return ([.. Start(), .. open, .. U32(Http2FrameType.WindowUpdate, stream, 0)], $"WINDOW_UPDATE of 0 on stream {stream}", false);
            }
            case 5: return SettingsMisuse(r, Start());
            case 6:
            {
                var (stream, weight) = (r.Next(2) == 0 ? 0u : Odd(), (byte)r.Next(256));
                var wrongLength = r.Next(3) == 0;
                var frame = wrongLength ? Frame(Http2FrameType.Priority, 0, stream, ByteMutations.RandomBytes(r, r.Next(0, 12) is var n && n == 5 ? 4 : n))
                    : Priority(stream, r.Next(2) == 0 ? stream : (uint)r.Next(), weight);
                return ([.. Start(), .. frame], $"PRIORITY on stream {stream}{(wrongLength ? " of the wrong length" : "")}", false);
            }
            case 7:
            {
                // Rapid reset, bounded: each stream opened and reset at once, or resets of streams never opened.
                var count = 1 + r.Next(200);
                var opened = r.Next(2) == 0;
                var frames = new List<byte>(Start());
                for (var i = 0; i < count; i++)
                {
                    var stream = (uint)(2 * i + 1);
                    if (opened) frames.AddRange(Frame(Http2FrameType.Headers, EndHeaders, stream, RequestBlock(GetInfo)));
                    frames.AddRange(U32(Http2FrameType.RstStream, stream, (uint)r.Next(0, 14)));
                }
                return ([.. frames], $"{count} RST_STREAM frames{(opened ? " each after HEADERS" : " on idle streams")}", false);
            }
            case 8:
            {
                var block = r.Next(2) == 0 ? ByteMutations.RandomBytes(r, r.Next(1, 200)) : ByteMutations.Any(RequestBlock(GetInfo), r).Bytes;
                return ([.. Start(), .. Frame(Http2FrameType.Headers, EndHeaders | EndStream, Odd(), block)], $"HEADERS with {block.Length} bytes of damaged HPACK", false);
            }
            case 9:
            {
                var stream = r.Next(2) == 0 ? 0 : Odd();
                return ([.. Start(), .. Frame(Http2FrameType.Continuation, EndHeaders, stream, RequestBlock(GetInfo))], $"CONTINUATION without HEADERS on stream {stream}", false);
            }
            case 10:
            {
                var stream = Odd();
                var other = r.Next(2) == 0 ? Ping(1) : Frame(Http2FrameType.Continuation, EndHeaders, stream + 2, []);
                return ([.. Start(), .. Frame(Http2FrameType.Headers, 0, stream, RequestBlock(GetInfo)), .. other], "HEADERS without END_HEADERS, then another frame", false);
            }
            case 11:
            {
                var stream = r.Next(2) == 0 ? 0 : Odd();
                return ([.. Start(), .. Frame(Http2FrameType.Data, EndStream, stream, ByteMutations.RandomBytes(r, r.Next(0, 100)))], $"DATA on {(stream == 0 ? "stream 0" : "an idle stream")}", false);
            }
            case 12:
            {
                var onStream = r.Next(2) == 0;
                var payload = ByteMutations.RandomBytes(r, onStream ? 8 : r.Next(0, 20) is var n && n == 8 ? 9 : n);
                return ([.. Start(), .. Frame(Http2FrameType.Ping, 0, onStream ? Odd() : 0, payload)], onStream ? "PING on a stream" : $"PING of {payload.Length} bytes", false);
            }
            case 13:
            {
                var even = r.Next(2) == 0;
                byte[] frames = even
                    ? Frame(Http2FrameType.Headers, EndHeaders | EndStream, (uint)(2 * r.Next(1, 1000)), RequestBlock(GetInfo))
                    : [.. Frame(Http2FrameType.Headers, EndHeaders | EndStream, 101, RequestBlock(GetInfo)), .. Frame(Http2FrameType.Headers, EndHeaders | EndStream, 51, RequestBlock(GetInfo))];
                return ([.. Start(), .. frames], even ? "HEADERS on an even (server) stream" : "stream ids going down", false);
            }
            case 14:
            {
                var keep = r.Next(1, 24);
                return ([.. Preface.AsSpan(0, keep), .. Settings(), .. Ping(2), .. new byte[24]], $"preface cut to {keep} bytes, then frames", true);
            }
            case 15:
            {
                (string, string)[][] bad =
                [
                    [("Content-Type", "application/grpc")], [("connection", "keep-alive")], [("te", "gzip")], [(":path", "/again")],
                    [("grpc-timeout", "1S"), (":method", "GET")], [("x-" + new string('a', r.Next(1, 8000)), "v")], [(":status", "200")],
                ];
                var fields = bad[r.Next(bad.Length)];
                return ([.. Start(), .. Frame(Http2FrameType.Headers, EndHeaders | EndStream, Odd(), RequestBlock(GetInfo, fields))],
                    $"request headers with {string.Join(", ", fields.Select(f => f.Item1.Length > 20 ? f.Item1[..20] + "…" : f.Item1))}", false);
            }
            case 16:
            {
                var frame = Frame(Http2FrameType.Headers, EndHeaders, Odd(), RequestBlock(GetInfo));
                var keep = r.Next(1, frame.Length);
                return ([.. Start(), .. frame.AsSpan(0, keep)], $"HEADERS frame cut to {keep} of {frame.Length} bytes, then the end of the connection", true);
            }
            default:
            {
                var payload = ByteMutations.RandomBytes(r, r.Next(0, 40));
                return ([.. Start(), .. Frame(Http2FrameType.GoAway, 0, r.Next(2) == 0 ? 0 : Odd(), payload)], $"client GOAWAY with {payload.Length} random bytes", false);
            }
        }
    }

    private static (byte[], string, bool) SettingsMisuse(Random r, byte[] start)
    {
        switch (r.Next(5))
        {
            case 0:
            {
                (ushort, uint)[] choices = [(2, 2), (4, 0x80000000u), (5, 100), (5, 1 << 24), (4, uint.MaxValue), (3, uint.MaxValue), (1, uint.MaxValue), (6, 0), ((ushort)r.Next(7, 65536), (uint)r.Next())];
                var setting = choices[r.Next(choices.Length)];
                return ([.. start, .. Settings(setting)], $"SETTINGS {setting.Item1} = {setting.Item2}", false);
            }
            case 1:
            {
                var length = r.Next(1, 40) is var n && n % 6 == 0 ? n + 1 : n;
                return ([.. start, .. Frame(Http2FrameType.Settings, 0, 0, ByteMutations.RandomBytes(r, length))], $"SETTINGS of {length} bytes (not a multiple of 6)", false);
            }
            case 2: return ([.. start, .. Frame(Http2FrameType.Settings, 0, (uint)r.Next(1, int.MaxValue), [])], "SETTINGS on a stream", false);
            case 3: return ([.. start, .. Frame(Http2FrameType.Settings, Ack, 0, ByteMutations.RandomBytes(r, 6))], "SETTINGS ACK with a payload", false);
            default:
            {
                // A bounded flood of SETTINGS the server must acknowledge.
                var count = 1 + r.Next(300);
                return ([.. start, .. Enumerable.Range(0, count).SelectMany(_ => Settings((4, (uint)r.Next())))], $"{count} SETTINGS frames", false);
            }
        }
    }
}
