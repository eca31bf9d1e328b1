using M2SNet.Edge.TestSupport;

namespace M2SNet.Edge.Daemon.Tests;

/// <summary>grpc-js, the reference client, against the daemon.</summary>
public sealed class InteropTests(DaemonFixture fixture)
{
    private readonly TestDaemon _daemon = fixture.Daemon;

    [Fact]
    public async Task Health_and_info()
    {
        var health = await GrpcJs.RunClientAsync(_daemon.GrpcHostPort, "health");
        Assert.Equal("SERVING", health[0].GetProperty("status").GetString());
        var info = await GrpcJs.RunClientAsync(_daemon.GrpcHostPort, "info");
        Assert.True(info[0].GetProperty("ready").GetBoolean());
        Assert.Equal("CPU", info[0].GetProperty("execution_provider").GetString());
    }

    [Theory]
    [InlineData("MASK_ENCODING_RLE")]
    [InlineData("MASK_ENCODING_BITPACKED")]
    [InlineData("MASK_ENCODING_PROBABILITY_U8")]
    public async Task Stream_of_masks_in_order(string encoding)
    {
        var lines = await GrpcJs.RunClientAsync(_daemon.GrpcHostPort, "stream", "5", encoding);
        var sequences = lines.Select(l => ulong.Parse(l.GetProperty("sequence").GetString()!, System.Globalization.CultureInfo.InvariantCulture)).ToList();
        Assert.Equal(5, sequences.Count);
        Assert.Equal(sequences.Order(), sequences);
        Assert.All(lines, l => Assert.Equal(encoding, l.GetProperty("encoding").GetString()));
    }

    [Fact]
    public async Task Segment_gives_the_same_mask_as_our_client()
    {
        using var capture = new M2SNet.Edge.OpenCv.VideoCapture(TestVideo.Path_);
        using var frame = new M2SNet.Edge.OpenCv.Mat();
        Assert.True(capture.Read(frame));
        var file = Path.Combine(Path.GetTempPath(), $"m2s-interop-{Guid.NewGuid():N}.bgr");
        await File.WriteAllBytesAsync(file, frame.AsSpan<byte>().ToArray(), TestContext.Current.CancellationToken);
        try
        {
            var lines = await GrpcJs.RunClientAsync(_daemon.GrpcHostPort, "segment", frame.Cols.ToString(), frame.Rows.ToString(), file);
            Assert.Equal("7", lines[0].GetProperty("clientSequence").GetString());
            Assert.True(lines[^1].GetProperty("end").GetBoolean());

            using var call = _daemon.Client.Segment(new Grpc.Core.CallOptions(cancellationToken: TestContext.Current.CancellationToken));
            await call.RequestStream.WriteAsync(new M2SNet.Edge.Protocol.V1.SegmentRequest
            {
                Frame = new M2SNet.Edge.Protocol.V1.Frame
                {
                    Format = M2SNet.Edge.Protocol.V1.PixelFormat.Bgr24, Width = (uint)frame.Cols, Height = (uint)frame.Rows,
                    Data = Google.Protobuf.ByteString.CopyFrom(frame.AsSpan<byte>()),
                },
                Options = new M2SNet.Edge.Protocol.V1.MaskOptions { Encoding = M2SNet.Edge.Protocol.V1.MaskEncoding.Bitpacked },
            }, TestContext.Current.CancellationToken);
            await call.RequestStream.CompleteAsync();
            Assert.True(await call.ResponseStream.MoveNext(TestContext.Current.CancellationToken));
            Assert.Equal(Convert.ToBase64String(call.ResponseStream.Current.Mask.Data.ToByteArray()), lines[0].GetProperty("maskBase64").GetString());
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task Unknown_method_and_bad_requests_get_their_codes()
    {
        var unknown = await GrpcJs.RunClientAsync(_daemon.GrpcHostPort, "unknown");
        Assert.Equal(12, unknown[0].GetProperty("code").GetInt32());
        var badEncoding = await GrpcJs.RunClientAsync(_daemon.GrpcHostPort, "stream", "1", "42");
        Assert.Equal(3, badEncoding[0].GetProperty("code").GetInt32());
        Assert.Contains("unknown mask encoding 42", badEncoding[0].GetProperty("details").GetString());
    }
}
