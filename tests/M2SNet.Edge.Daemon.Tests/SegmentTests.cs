using System.Net;
using System.Net.Http.Headers;
using Google.Protobuf;
using Grpc.Health.V1;
using Grpc.Core;
using M2SNet.Edge.Inference;
using Microsoft.ML.OnnxRuntime;
using M2SNet.Edge.OpenCv;
using M2SNet.Edge.Onnx;
using M2SNet.Edge.Protocol;
using M2SNet.Edge.Protocol.V1;
using ProtoFrame = M2SNet.Edge.Protocol.V1.Frame;

namespace M2SNet.Edge.Daemon.Tests;

/// <summary>Segment: frames the client sends, masks back in order; and every kind of bad frame.</summary>
public sealed class SegmentTests(DaemonFixture fixture)
{
    private readonly TestDaemon _daemon = fixture.Daemon;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static CallOptions Call() => new(deadline: DateTime.UtcNow.AddSeconds(60), cancellationToken: Ct);

    private static Mat FrameOfTestClip(int index)
    {
        using var capture = new VideoCapture(TestVideo.Path_);
        var image = new Mat();
        for (var i = 0; i <= index; i++) Assert.True(capture.Read(image));
        return image;
    }

    private static ProtoFrame Raw(Mat bgr) => new()
    {
        Format = PixelFormat.Bgr24,
        Width = (uint)bgr.Cols,
        Height = (uint)bgr.Rows,
        Data = ByteString.CopyFrom(bgr.AsSpan<byte>()),
    };

    /// <summary>
    /// The exported model run directly with ONNX Runtime (its own session, outside the daemon) on
    /// the whole frame, then thresholded at the frame's size and at the network's.
    /// </summary>
    private static (byte[] Binary, byte[] Probability224) Direct(Mat bgr)
    {
        var onnx = Path.Combine(AppContext.BaseDirectory, "models", "m2snet-s-demo.onnx");
        var manifest = ModelManifest.FromJson(File.ReadAllText(ModelManifest.PathFor(onnx)));
        const int size = 224;
        var input = new float[3 * size * size];
        FrameOps.Preprocess(bgr, M2SNet.Edge.OpenCv.Rect.Of(bgr), size, size, manifest.Input.Mean, manifest.Input.Std, input);
        using var session = ProviderSession.Create(onnx, new SessionSettings { IntraOpNumThreads = 1 });
        using var tensor = OrtValue.CreateTensorValueFromMemory(input, [1, 3, size, size]);
        using var outputs = session.Run(ProviderSession.DefaultRun, new Dictionary<string, OrtValue> { [manifest.Input.Name] = tensor }, session.OutputNames);
        var scores = outputs[0].GetTensorDataAsSpan<float>().ToArray();
        using var binary = new Mat();
        FrameOps.ScoresToMap(scores, size, size, areLogits: true, binary: true, manifest.Output.Threshold, M2SNet.Edge.OpenCv.Rect.Of(bgr), bgr.Size, binary);
        using var probability = new Mat();
        FrameOps.ScoresToMap(scores, size, size, areLogits: true, binary: false, manifest.Output.Threshold, new M2SNet.Edge.OpenCv.Rect(0, 0, size, size),
            new Size(size, size), probability);
        return (binary.AsSpan<byte>().ToArray(), probability.AsSpan<byte>().ToArray());
    }

    [Fact]
    public async Task A_round_trip_returns_the_mask_the_exported_model_computes_directly()
    {
        using var frame = FrameOfTestClip(20);
        var (expectedBinary, expectedProbability) = Direct(frame);
        Assert.True(MaskCodec.CountForeground(expectedBinary) > 100, "the test frame should show a polyp");
        var jpeg = Cv2.ImEncode(".jpg", frame, Cv2.ImwriteJpegQuality, 95);
        using var decodedJpeg = Cv2.ImDecode(jpeg);
        var (expectedFromJpeg, _) = Direct(decodedJpeg);

        using var call = _daemon.Client.Segment(Call());
        await call.RequestStream.WriteAsync(new SegmentRequest
        {
            ClientSequence = 1001, ClientTimestampNs = 123, Frame = Raw(frame), Options = new MaskOptions { Encoding = MaskEncoding.Bitpacked },
        }, Ct);
        // Options stay until a request changes them.
        await call.RequestStream.WriteAsync(new SegmentRequest
        {
            ClientSequence = 1002, Frame = Raw(frame), Options = new MaskOptions { Encoding = MaskEncoding.ProbabilityU8, Width = 224, Height = 224 },
        }, Ct);
        await call.RequestStream.WriteAsync(new SegmentRequest
        {
            ClientSequence = 1003, Frame = new ProtoFrame { Format = PixelFormat.Jpeg, Data = ByteString.CopyFrom(jpeg) },
            Options = new MaskOptions { Encoding = MaskEncoding.Rle },
        }, Ct);
        using var rgb = new Mat();
        Cv2.CvtColor(frame, rgb, ColorConversionCodes.BGR2RGB);
        await call.RequestStream.WriteAsync(new SegmentRequest
        {
            ClientSequence = 1004, Frame = Raw(rgb), Options = new MaskOptions { Encoding = MaskEncoding.Bitpacked },
        }.Tap(r => r.Frame.Format = PixelFormat.Rgb24), Ct);
        await call.RequestStream.CompleteAsync();

        var replies = new List<MaskMessage>();
        await foreach (var m in call.ResponseStream.ReadAllAsync(Ct)) replies.Add(m);
        Assert.Equal([1001UL, 1002, 1003, 1004], replies.Select(r => r.ClientSequence));
        Assert.Equal([1UL, 2, 3, 4], replies.Select(r => r.Sequence));
        Assert.Equal(123, replies[0].ClientTimestampNs);

        Assert.Equal(expectedBinary, Masks.Unpack(replies[0].Mask.Data.Span, frame.Cols, frame.Rows));
        Assert.Equal((uint)MaskCodec.CountForeground(expectedBinary), replies[0].Mask.ForegroundPixels);
        Assert.Equal(expectedProbability, replies[1].Mask.Data.ToByteArray());
        Assert.Equal(expectedFromJpeg, Masks.Rle(replies[2].Mask.Counts, frame.Cols, frame.Rows));
        Assert.Equal(expectedBinary, Masks.Unpack(replies[3].Mask.Data.Span, frame.Cols, frame.Rows));
        Assert.All(replies, r => Assert.True(r.Timestamps.InferenceEndNs > r.Timestamps.InferenceStartNs));
    }

    [Fact]
    public async Task Foreground_is_the_same_count_in_every_encoding()
    {
        // D8: PROBABILITY_U8 used to count u8 >= cut, the binary encodings p > threshold.
        using var call = _daemon.Client.Segment(Call());
        var encodings = new[] { MaskEncoding.ProbabilityU8, MaskEncoding.Bitpacked, MaskEncoding.Rle, MaskEncoding.Png };
        var frames = new[] { 5, 20, 40, 60, 80 };
        var replies = new List<MaskMessage>();
        foreach (var index in frames)
        {
            using var frame = FrameOfTestClip(index);
            foreach (var encoding in encodings)
            {
                // One at a time: the replies (up to 230 kB each) are read as they come.
                await call.RequestStream.WriteAsync(new SegmentRequest { Frame = Raw(frame), Options = new MaskOptions { Encoding = encoding } }, Ct);
                Assert.True(await call.ResponseStream.MoveNext(Ct));
                replies.Add(call.ResponseStream.Current);
            }
        }
        await call.RequestStream.CompleteAsync();

        Assert.Equal(frames.Length * encodings.Length, replies.Count);
        foreach (var group in replies.Chunk(encodings.Length))
        {
            var binary = Masks.Unpack(group[1].Mask.Data.Span, (int)group[1].Mask.Width, (int)group[1].Mask.Height);
            Assert.All(group, r => Assert.Equal((uint)MaskCodec.CountForeground(binary), r.Mask.ForegroundPixels));
        }
        Assert.Contains(replies, r => r.Mask.ForegroundPixels > 0);
    }

    public static TheoryData<string, string> BadFrames() => new()
    {
        { "no frame", "has no frame" },
        { "raw without size", "needs its width and height" },
        { "raw short by one byte", "bytes were sent" },
        { "raw too long", "bytes were sent" },
        { "stride shorter than a row", "stride" },
        { "larger than the frame limit", "larger than the limit 1920x1080" },
        { "unknown pixel format", "unknown pixel format 9" },
        { "empty JPEG", "is empty" },
        { "JPEG cut to a third", "Premature end of JPEG file" },
        { "JPEG cut to half", "Premature end of JPEG file" },
        { "JPEG cut by its last 10 bytes", "Premature end of JPEG file" },
        { "JPEG with damaged entropy-coded data", "damaged or incomplete" },
        { "PNG cut to half", "damaged or incomplete" },
        { "PNG with damaged picture data", "damaged or incomplete" },
        { "PNG with damaged picture data under a recomputed checksum", "damaged or incomplete" },
        { "not a JPEG", "no valid Jpeg header" },
        { "PNG header declaring 100000x100000", "100000x100000 frame is larger than the limit" },
        { "JPEG of another size than declared", "declares 100x100" },
        { "unknown mask encoding", "unknown mask encoding 42" },
    };

    private static SegmentRequest Bad(string kind)
    {
        using var small = Masks.Solid(48, 64);
        var jpeg = Cv2.ImEncode(".jpg", small);
        // A real frame, so the cut or damaged part holds picture data, not just a flat field.
        using var clipFrame = FrameOfTestClip(20);
        var frameJpeg = Cv2.ImEncode(".jpg", clipFrame, Cv2.ImwriteJpegQuality, 90);
        var framePng = Cv2.ImEncode(".png", clipFrame);
        ProtoFrame Encoded(PixelFormat format, ReadOnlySpan<byte> data) => new() { Format = format, Data = ByteString.CopyFrom(data) };
        var bytes = small.AsSpan<byte>().ToArray();
        ProtoFrame RawOf(byte[] data, uint w = 64, uint h = 48, uint stride = 0) =>
            new() { Format = PixelFormat.Bgr24, Width = w, Height = h, Stride = stride, Data = ByteString.CopyFrom(data) };
        return kind switch
        {
            "no frame" => new SegmentRequest(),
            "raw without size" => new SegmentRequest { Frame = RawOf(bytes, 0, 0) },
            "raw short by one byte" => new SegmentRequest { Frame = RawOf(bytes[..^1]) },
            "raw too long" => new SegmentRequest { Frame = RawOf([.. bytes, .. new byte[200]]) },
            "stride shorter than a row" => new SegmentRequest { Frame = RawOf(bytes, stride: 100) },
            "larger than the frame limit" => new SegmentRequest { Frame = RawOf(new byte[2000 * 10 * 3], 2000, 10) },
            "unknown pixel format" => new SegmentRequest { Frame = new ProtoFrame { Format = (PixelFormat)9, Data = ByteString.CopyFrom(jpeg) } },
            "empty JPEG" => new SegmentRequest { Frame = new ProtoFrame { Format = PixelFormat.Jpeg } },
            "JPEG cut to a third" => new SegmentRequest { Frame = Encoded(PixelFormat.Jpeg, frameJpeg.AsSpan(0, frameJpeg.Length / 3)) },
            "JPEG cut to half" => new SegmentRequest { Frame = Encoded(PixelFormat.Jpeg, frameJpeg.AsSpan(0, frameJpeg.Length / 2)) },
            "JPEG cut by its last 10 bytes" => new SegmentRequest { Frame = Encoded(PixelFormat.Jpeg, frameJpeg.AsSpan(0, frameJpeg.Length - 10)) },
            "JPEG with damaged entropy-coded data" => new SegmentRequest { Frame = Encoded(PixelFormat.Jpeg, Damaged(frameJpeg)) },
            "PNG cut to half" => new SegmentRequest { Frame = Encoded(PixelFormat.Png, framePng.AsSpan(0, framePng.Length / 2)) },
            "PNG with damaged picture data" => new SegmentRequest { Frame = Encoded(PixelFormat.Png, DamagedPng(framePng, fixChecksum: false)) },
            "PNG with damaged picture data under a recomputed checksum" => new SegmentRequest { Frame = Encoded(PixelFormat.Png, DamagedPng(framePng, fixChecksum: true)) },
            "not a JPEG" => new SegmentRequest { Frame = new ProtoFrame { Format = PixelFormat.Jpeg, Data = ByteString.CopyFromUtf8("GIF89a, not what it says") } },
            "PNG header declaring 100000x100000" => new SegmentRequest { Frame = new ProtoFrame { Format = PixelFormat.Png, Data = ByteString.CopyFrom(PngBomb()) } },
            "JPEG of another size than declared" => new SegmentRequest { Frame = new ProtoFrame { Format = PixelFormat.Jpeg, Width = 100, Height = 100, Data = ByteString.CopyFrom(jpeg) } },
            "unknown mask encoding" => new SegmentRequest { Frame = RawOf(bytes), Options = new MaskOptions { Encoding = (MaskEncoding)42 } },
            _ => throw new ArgumentException(kind),
        };
    }

    /// <summary>The JPEG with a stretch of its compressed picture data overwritten, as a bad link would.</summary>
    private static byte[] Damaged(byte[] jpeg)
    {
        var damaged = jpeg.ToArray();
        var rng = new Random(17);
        for (var i = jpeg.Length / 2; i < jpeg.Length / 2 + 400; i++) damaged[i] = (byte)rng.Next(256);
        return damaged;
    }

    /// <summary>
    /// The PNG with a stretch of its first IDAT chunk's compressed data overwritten; with
    /// <paramref name="fixChecksum"/> the chunk's CRC is made to match, so only the picture data itself
    /// (zlib's own check) can tell.
    /// </summary>
    private static byte[] DamagedPng(byte[] png, bool fixChecksum)
    {
        var damaged = png.ToArray();
        var at = 8;
        while (!damaged.AsSpan(at + 4, 4).SequenceEqual("IDAT"u8)) at += 12 + (int)System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(damaged.AsSpan(at));
        var length = (int)System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(damaged.AsSpan(at));
        var rng = new Random(23);
        for (var i = at + 8 + length / 2; i < at + 8 + length / 2 + 400; i++) damaged[i] = (byte)rng.Next(256);
        if (fixChecksum) System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(damaged.AsSpan(at + 8 + length), Crc32(damaged.AsSpan(at + 4, 4 + length)));
        return damaged;
    }

    /// <summary>The CRC-32 PNG chunks carry (ISO 3309, reflected polynomial 0xEDB88320).</summary>
    private static uint Crc32(ReadOnlySpan<byte> bytes)
    {
        var crc = 0xFFFFFFFFu;
        foreach (var b in bytes)
        {
            crc ^= b;
            for (var k = 0; k < 8; k++) crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB88320u : crc >> 1;
        }
        return ~crc;
    }

    /// <summary>A tiny PNG whose header claims 100000x100000 pixels (40 GB decoded).</summary>
    private static byte[] PngBomb()
    {
        using var one = Masks.Solid(1, 1);
        var png = Cv2.ImEncode(".png", one);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(png.AsSpan(16), 100_000);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(png.AsSpan(20), 100_000);
        return png;
    }

    [Theory]
    [MemberData(nameof(BadFrames))]
    public async Task A_bad_frame_is_INVALID_ARGUMENT_with_its_reason_after_the_good_ones_are_answered(string kind, string reason)
    {
        using var good = Masks.Solid(48, 64);
        using var call = _daemon.Client.Segment(Call());
        await call.RequestStream.WriteAsync(new SegmentRequest { ClientSequence = 1, Frame = Raw(good) }, Ct);
        await call.RequestStream.WriteAsync(Bad(kind), Ct);
        Assert.True(await call.ResponseStream.MoveNext(Ct));
        Assert.Equal(1UL, call.ResponseStream.Current.ClientSequence);
        var e = await StatusAssert.ThrowsAsync(StatusCode.InvalidArgument, () => call.ResponseStream.MoveNext(Ct), reason);
        Assert.StartsWith("frame #2: ", e.Status.Detail);
        await AssertStillServingAsync();
    }

    private async Task AssertStillServingAsync()
    {
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, (await _daemon.Health.CheckAsync(new HealthCheckRequest(), Call())).Status);
        using var stream = _daemon.Client.StreamMasks(new StreamMasksRequest { ClientName = "still-serving" }, Call());
        Assert.True(await stream.ResponseStream.MoveNext(Ct));
    }

    [Fact]
    public async Task A_message_over_the_size_limit_is_RESOURCE_EXHAUSTED_before_it_is_buffered()
    {
        using var call = _daemon.Client.Segment(Call());
        var huge = new SegmentRequest { Frame = new ProtoFrame { Format = PixelFormat.Jpeg, Data = ByteString.CopyFrom(new byte[9 * 1024 * 1024]) } };
        try
        {
            await call.RequestStream.WriteAsync(huge, Ct);
        }
        catch (RpcException)
        {
            // The daemon may end the call while the message is still being sent; the status is on the response side.
        }
        await StatusAssert.ThrowsAsync(StatusCode.ResourceExhausted, () => call.ResponseStream.MoveNext(Ct), "exceeds the limit of 8388608 bytes");
        await AssertStillServingAsync();
    }

    [Fact]
    public async Task Bytes_that_are_not_a_SegmentRequest_are_INVALID_ARGUMENT()
    {
        using var http = new HttpClient(new SocketsHttpHandler());
        byte[] garbage = [0, 0, 0, 0, 4, 0x12, 0xFF, 0xFF, 0x0F];
        var content = new ByteArrayContent(garbage);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/grpc");
        var request = new HttpRequestMessage(HttpMethod.Post, _daemon.GrpcAddress + $"/{Segmentation.Descriptor.FullName}/Segment")
        {
            Content = content, Version = HttpVersion.Version20, VersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
        var response = await http.SendAsync(request, Ct);
        await response.Content.ReadAsByteArrayAsync(Ct);
        var status = response.TrailingHeaders.TryGetValues("grpc-status", out var t) ? t.First() : response.Headers.GetValues("grpc-status").First();
        Assert.Equal("3", status);
        await AssertStillServingAsync();
    }

    [Fact]
    public async Task A_client_that_disconnects_in_the_middle_of_a_frame_leaves_the_daemon_serving()
    {
        using var frame = FrameOfTestClip(0);
        var framed = GrpcWire.Frame(new SegmentRequest { Frame = Raw(frame) });
        using var http = new HttpClient(new SocketsHttpHandler());
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var halfSent = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var content = new HalfThenHang(framed.AsMemory(0, framed.Length / 2), halfSent);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/grpc");
        var request = new HttpRequestMessage(HttpMethod.Post, _daemon.GrpcAddress + $"/{Segmentation.Descriptor.FullName}/Segment")
        {
            Content = content,
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
        var send = http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancel.Token);
        await halfSent.Task.WaitAsync(TimeSpan.FromSeconds(30), Ct);
        await Task.Delay(200, Ct);
        await cancel.CancelAsync(); // resets the stream with half a frame in the daemon's hands
        await Assert.ThrowsAnyAsync<Exception>(() => send);

        using (var raw = new System.Net.Sockets.TcpClient())
        {
            // A connection that opens HTTP/2, says nothing sensible and leaves.
            var uri = new Uri(_daemon.GrpcAddress);
            await raw.ConnectAsync(uri.Host, uri.Port, Ct);
            await raw.GetStream().WriteAsync("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\0"u8.ToArray(), Ct);
        }
        await AssertStillServingAsync();
    }

    /// <summary>A request body that sends part of a message and then never finishes.</summary>
    private sealed class HalfThenHang(ReadOnlyMemory<byte> part, TaskCompletionSource sent) : HttpContent
    {
        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) => SerializeToStreamAsync(stream, context, default);

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
        {
            await stream.WriteAsync(part, cancellationToken);
            await stream.FlushAsync(cancellationToken);
            sent.TrySetResult();
            await Task.Delay(Timeout.Infinite, cancellationToken);
        }

        protected override bool TryComputeLength(out long length)
        {
            length = -1;
            return false;
        }
    }
}

internal static class MessageExtensions
{
    public static T Tap<T>(this T value, Action<T> change)
    {
        change(value);
        return value;
    }
}
