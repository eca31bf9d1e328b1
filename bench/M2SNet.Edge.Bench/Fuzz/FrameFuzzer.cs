using System.Buffers.Binary;
using Google.Protobuf;
using Grpc.Core;
using M2SNet.Edge.Daemon.Configuration;
using M2SNet.Edge.Daemon.Services;
using M2SNet.Edge.Daemon.Streaming;
using M2SNet.Edge.OpenCv;
using M2SNet.Edge.Protocol.V1;
using ProtoFrame = M2SNet.Edge.Protocol.V1.Frame;

namespace M2SNet.Edge.Bench.Fuzz;

/// <summary>
/// Malformed frames through Segment, one call each: JPEG, PNG and raw frames of a real clip
/// frame, cut, bit-flipped, overwritten, with tampered headers, wrong declared geometry, unknown
/// formats and mask options.
/// <para>
/// The rule: the expected answer is what the daemon's own checks (options, then
/// <see cref="FrameDecoder"/>, strict for JPEG) say about the same bytes in this process:
/// INVALID_ARGUMENT naming the frame, or OK with a mask of the frame's size when the damage left
/// an image that still decodes strictly (JPEG and PNG data can be flipped into another valid
/// picture). Independently of that, a JPEG cut short or a PNG cut before its last chunk is never
/// OK (the D3 failure: missing picture made up as grey). Anything else is unacceptable.
/// </para>
/// </summary>
internal sealed class FrameFuzzer : IFuzzTarget
{
    private readonly Segmentation.SegmentationClient _client;
    private readonly LimitOptions _limits;
    private readonly StreamOptions _stream = new();
    private readonly byte[] _jpeg;
    private readonly byte[] _png;
    private readonly byte[] _raw;
    private readonly int _width;
    private readonly int _height;
    private readonly int _jpegSof;

    public FrameFuzzer(Segmentation.SegmentationClient client, LimitOptions limits, string clip)
    {
        _client = client;
        _limits = limits;
        using var capture = new VideoCapture(clip);
        using var frame = new Mat();
        for (var i = 0; i <= 20; i++)
        {
            if (!capture.Read(frame)) throw new InvalidOperationException($"cannot read frame {i} of {clip}");
        }
        // A small frame keeps each input cheap; it still holds picture data to damage.
        using var small = new Mat();
        Cv2.Resize(frame, small, new Size(160, 90));
        (_width, _height) = (small.Cols, small.Rows);
        _jpeg = Cv2.ImEncode(".jpg", small, Cv2.ImwriteJpegQuality, 90);
        _png = Cv2.ImEncode(".png", small);
        _raw = small.AsSpan<byte>().ToArray();
        _jpegSof = FindJpegStartOfFrame(_jpeg);
    }

    public string Category => "frames";

    public async Task<FuzzAnswer> RunAsync(Random r, CancellationToken cancel)
    {
        var (request, what, neverOk) = Generate(r);
        var expected = Expect(request);
        string answer, detail;
        MaskMessage? reply = null;
        using var call = _client.Segment(new CallOptions(cancellationToken: cancel));
        try
        {
            await call.RequestStream.WriteAsync(request, cancel).ConfigureAwait(false);
            await call.RequestStream.CompleteAsync().ConfigureAwait(false);
        }
        catch (RpcException)
        {
            // The daemon ended the call first; its status comes from the response stream.
        }
        try
        {
            while (await call.ResponseStream.MoveNext(cancel).ConfigureAwait(false)) reply ??= call.ResponseStream.Current;
            (answer, detail) = ("OK", reply is null ? "no reply came back" : reply.Mask is null ? "no mask (encoding NONE)" : $"{reply.Mask.Width}x{reply.Mask.Height} mask");
        }
        catch (RpcException e)
        {
            (answer, detail) = (StatusNames.Of(e.StatusCode), e.Status.Detail);
        }

        var acceptable = answer switch
        {
            "INVALID_ARGUMENT" => expected.Code == StatusCode.InvalidArgument && detail.Contains("frame #1", StringComparison.Ordinal),
            "OK" => expected.Code == StatusCode.OK && !neverOk && reply is not null
                    && (reply.Mask is null ? expected.MaskWidth == 0 : reply.Mask.Width == expected.MaskWidth && reply.Mask.Height == expected.MaskHeight),
            _ => false,
        };
        if (!acceptable) detail = $"expected {StatusNames.Of(expected.Code)}{(neverOk ? " (a cut image is never OK)" : "")}: {detail}";
        return new FuzzAnswer(what, answer, acceptable, detail);
    }

    /// <summary>What the daemon's own checks say about this request, run here on the same bytes.</summary>
    private (StatusCode Code, uint MaskWidth, uint MaskHeight) Expect(SegmentRequest request)
    {
        try
        {
            var mask = ClientMaskOptions.Resolve(request.Options, _stream, _limits);
            using var image = new Mat();
            FrameDecoder.Decode(request.Frame, _limits, image);
            // Encoding NONE sends the message without a mask (its expected size is 0x0).
            return mask.Encoding == MaskEncoding.None ? (StatusCode.OK, 0, 0)
                : mask.Width > 0 ? (StatusCode.OK, (uint)mask.Width, (uint)mask.Height) : (StatusCode.OK, (uint)image.Cols, (uint)image.Rows);
        }
        catch (RpcException e)
        {
            return (e.StatusCode, 0, 0);
        }
    }

    private (SegmentRequest Request, string What, bool NeverOk) Generate(Random r)
    {
        ProtoFrame Encoded(PixelFormat format, byte[] data) => new() { Format = format, Data = ByteString.CopyFrom(data) };
        SegmentRequest Of(ProtoFrame frame) => new() { Frame = frame };
        switch (r.Next(13))
        {
            case 0:
            {
                var (bytes, what) = ByteMutations.Truncate(_jpeg, r);
                return (Of(Encoded(PixelFormat.Jpeg, bytes)), "jpeg " + what, true);
            }
            case 1:
            case 2:
            {
                var (bytes, what) = r.Next(2) == 0 ? ByteMutations.FlipBits(_jpeg, r) : ByteMutations.OverwriteRun(_jpeg, r);
                return (Of(Encoded(PixelFormat.Jpeg, bytes)), "jpeg " + what, false);
            }
            case 3:
            {
                var bytes = _jpeg.ToArray();
                var (h, w) = ((ushort)r.Next(65536), (ushort)r.Next(65536));
                if (r.Next(2) == 0) h = (ushort)(_height + r.Next(-3, 4));
                BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(_jpegSof + 5), h);
                BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(_jpegSof + 7), w);
                return (Of(Encoded(PixelFormat.Jpeg, bytes)), $"jpeg start-of-frame says {w}x{h}", false);
            }
            case 4:
            {
                var (bytes, what) = ByteMutations.Truncate(_png, r);
                return (Of(Encoded(PixelFormat.Png, bytes)), "png " + what, bytes.Length < _png.Length - 12);
            }
            case 5:
            {
                var (bytes, what) = r.Next(2) == 0 ? ByteMutations.FlipBits(_png, r) : ByteMutations.Any(_png, r);
                return (Of(Encoded(PixelFormat.Png, bytes)), "png " + what, false);
            }
            case 6:
            {
                var bytes = _png.ToArray();
                var (w, h) = ((uint)r.Next(), (uint)r.Next(0, 3000));
                if (r.Next(2) == 0) w = (uint)(_width + r.Next(-3, 4));
                BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(16), w);
                BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(20), h);
                return (Of(Encoded(PixelFormat.Png, bytes)), $"png header says {w}x{h}", false);
            }
            case 7:
            {
                var format = (PixelFormat)r.Next(1, 5);
                var bytes = ByteMutations.RandomBytes(r, r.Next(0, 4096));
                // A valid signature in front of noise gets the noise past the header check.
                if (format == PixelFormat.Jpeg && r.Next(2) == 0) bytes = [0xFF, 0xD8, .. bytes];
                if (format == PixelFormat.Png && r.Next(2) == 0) bytes = [.. _png.AsSpan(0, 33), .. bytes];
                var frame = Encoded(format, bytes);
                if (format is PixelFormat.Bgr24 or PixelFormat.Rgb24) (frame.Width, frame.Height) = ((uint)r.Next(0, 64), (uint)r.Next(0, 64));
                return (Of(frame), $"{bytes.Length} random bytes as {format} {frame.Width}x{frame.Height}", false);
            }
            case 8: return RawGeometry(r);
            case 9:
            {
                var format = r.Next(3) switch { 0 => 0, 1 => r.Next(5, 100), _ => r.Next(int.MinValue, 0) };
                return (Of(Encoded((PixelFormat)format, _jpeg)), $"pixel format {format}", false);
            }
            case 10:
            {
                var png = r.Next(2) == 0;
                var frame = Encoded(png ? PixelFormat.Png : PixelFormat.Jpeg, png ? _png : _jpeg);
                (frame.Width, frame.Height) = ((uint)(_width + r.Next(-2, 3)), (uint)(_height + r.Next(-2, 3)));
                if (r.Next(4) == 0) frame.Width = (uint)r.Next();
                return (Of(frame), $"{frame.Format} declared {frame.Width}x{frame.Height}", false);
            }
            case 11:
            {
                var options = new MaskOptions
                {
                    Encoding = (MaskEncoding)r.Next(-1, 9),
                    Width = (uint)(r.Next(3) == 0 ? r.Next() : r.Next(0, 200)),
                    Height = (uint)(r.Next(3) == 0 ? r.Next(0, 5000) : r.Next(0, 200)),
                    JpegQuality = (uint)r.Next(0, 200),
                    IncludeFrameJpeg = r.Next(2) == 0,
                };
                if (r.Next(3) == 0) options.Height = options.Width = 0;
                return (new SegmentRequest { Frame = Encoded(PixelFormat.Jpeg, _jpeg), Options = options }, $"mask options {options}", false);
            }
            default:
                return r.Next(2) == 0
                    ? (new SegmentRequest { ClientSequence = (ulong)r.NextInt64() }, "no frame", false)
                    : (Of(new ProtoFrame { Format = PixelFormat.Jpeg }), "empty JPEG", false);
        }
    }

    /// <summary>A raw frame whose declared width, height, stride or data length is off by a little or a lot.</summary>
    private (SegmentRequest, string, bool) RawGeometry(Random r)
    {
        uint Near(int v) => (uint)Math.Max(0, r.Next(4) == 0 ? r.Next() : v + r.Next(-2, 3));
        var frame = new ProtoFrame
        {
            Format = r.Next(2) == 0 ? PixelFormat.Bgr24 : PixelFormat.Rgb24,
            Width = Near(_width),
            Height = Near(_height),
            Stride = r.Next(3) == 0 ? Near(_width * 3) : 0,
        };
        var data = _raw;
        if (r.Next(3) == 0) data = ByteMutations.Any(_raw, r).Bytes;
        frame.Data = ByteString.CopyFrom(data);
        return (new SegmentRequest { Frame = frame }, $"raw {frame.Format} {frame.Width}x{frame.Height} stride {frame.Stride}, {data.Length} bytes", false);
    }

    private static int FindJpegStartOfFrame(byte[] jpeg)
    {
        for (var i = 2; i + 9 < jpeg.Length; i++)
        {
            if (jpeg[i] == 0xFF && jpeg[i + 1] is 0xC0 or 0xC1 or 0xC2) return i;
        }
        throw new InvalidOperationException("the encoded JPEG has no start-of-frame marker");
    }
}

/// <summary>gRPC status codes by their protocol names (INVALID_ARGUMENT), as reports and the gRPC documentation spell them.</summary>
internal static class StatusNames
{
    private static readonly string[] s_names =
    [
        "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
    ];

    public static string Of(StatusCode code) => (int)code >= 0 && (int)code < s_names.Length ? s_names[(int)code] : $"status {(int)code}";

    public static string Of(string? grpcStatus) =>
        int.TryParse(grpcStatus, System.Globalization.CultureInfo.InvariantCulture, out var code) ? Of((StatusCode)code) : $"grpc-status '{grpcStatus}'";
}
