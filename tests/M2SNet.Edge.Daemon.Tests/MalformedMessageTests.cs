using System.Net.Http.Headers;
using Grpc.Health.V1;
using M2SNet.Edge.Deployment;
using M2SNet.Edge.Protocol.V1;

namespace M2SNet.Edge.Daemon.Tests;

/// <summary>
/// What the fuzz suite found (issue 17): request messages the client got wrong were answered
/// UNKNOWN ("Exception was thrown by handler.") or INTERNAL, as if the daemon had failed; a bundle
/// whose zip directory is damaged was UNKNOWN instead of refused at its Format check.
/// </summary>
public sealed class MalformedMessageTests(DaemonFixture fixture)
{
    private readonly TestDaemon _daemon = fixture.Daemon;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static readonly string GetInfo = $"/{Segmentation.Descriptor.FullName}/GetInfo";

    private static readonly string Segment = $"/{Segmentation.Descriptor.FullName}/Segment";

    public static TheoryData<string, string, string> Bodies() => new()
    {
        // kind, expected grpc-status, words of the status message
        { "undecodable GetInfo", "3", "message #1 is not a valid GetInfoRequest" },
        { "undecodable Health.Check", "3", "message #1 is not a valid HealthCheckRequest" },
        { "undecodable UploadModel", "3", "message #1 is not a valid UploadModelRequest" },
        { "no message", "3", "takes one request message; the request had none" },
        { "body ends inside the message", "3", "the request ended inside message #1" },
        { "body ends inside the prefix", "3", "inside the 5-byte prefix of message #1" },
        { "compressed flag without grpc-encoding", "3", "names no grpc-encoding" },
        { "compressed flag 7", "3", "compressed flag 7" },
        { "gzip that is not gzip", "3", "after gzip" },
        { "Segment frame in gzip that is not gzip", "3", "frame #1: the compressed message does not decompress" },
        { "Segment frame that is not a SegmentRequest", "3", "frame #1: the message is not a valid SegmentRequest" },
        { "two messages", "3", "takes one request message" },
        { "prefix over 2 GiB", "8", "over the limit of 8388608 bytes" },
    };

    [Theory]
    [MemberData(nameof(Bodies))]
    public async Task A_request_message_the_client_got_wrong_is_its_error_not_the_daemons(string kind, string code, string words)
    {
        byte[] undecodable = [0x0A, 0x05, 0x01]; // field 1, 5 bytes announced, 1 sent
        var one = GrpcWire.Frame(new GetInfoRequest());
        var (path, body, gzip) = kind switch
        {
            "undecodable GetInfo" => (GetInfo, GrpcWire.Frame(undecodable, compressed: false), false),
            "undecodable Health.Check" => ($"/{Health.Descriptor.FullName}/Check", GrpcWire.Frame(undecodable, compressed: false), false),
            "undecodable UploadModel" => ($"/{ModelAdmin.Descriptor.FullName}/UploadModel", GrpcWire.Frame(undecodable, compressed: false), false),
            "no message" => (GetInfo, [], false),
            "body ends inside the message" => (GetInfo, GrpcWire.Frame([1, 2, 3], compressed: false)[..6], false),
            "body ends inside the prefix" => (GetInfo, one[..3], false),
            "compressed flag without grpc-encoding" => (GetInfo, GrpcWire.Frame([], compressed: true), false),
            "compressed flag 7" => (GetInfo, [7, 0, 0, 0, 0], false),
            "gzip that is not gzip" => (GetInfo, GrpcWire.Frame([1, 2, 3, 4], compressed: true), true),
            // Segment's frames are parsed once, by the service, which names the frame.
            "Segment frame in gzip that is not gzip" => (Segment, GrpcWire.Frame([1, 2, 3, 4], compressed: true), true),
            "Segment frame that is not a SegmentRequest" => (Segment, GrpcWire.Frame(undecodable, compressed: false), false),
            "two messages" => (GetInfo, [.. one, .. one], false),
            "prefix over 2 GiB" => (GetInfo, [0, 0xFF, 0xFF, 0xFF, 0x00, 1, 2], false),
            _ => throw new ArgumentException(kind),
        };
        using var http = new HttpClient(new SocketsHttpHandler());
        using var request = GrpcWire.Request(_daemon.GrpcAddress, path, new ByteArrayContent(body));
        if (gzip) request.Headers.Add("grpc-encoding", "gzip");

        using var response = await http.SendAsync(request, Ct);
        await response.Content.ReadAsByteArrayAsync(Ct);

        Assert.Equal(code, GrpcWire.Status(response));
        var message = response.TrailingHeaders.TryGetValues("grpc-message", out var t) ? t.First()
            : response.Headers.TryGetValues("grpc-message", out var h) ? h.First() : "";
        Assert.Contains(words, Uri.UnescapeDataString(message));
    }

    [Fact]
    public void A_bundle_whose_zip_directory_is_damaged_is_refused_at_its_Format_check()
    {
        var bundle = TestBundles.Constant();
        // The end-of-central-directory record counts 2 entries where the directory holds 3.
        var end = bundle.Length - 22;
        Assert.Equal("PK\u0005\u0006"u8.ToArray(), bundle[end..(end + 4)]);
        bundle[end + 8] = 2;
        bundle[end + 10] = 2;
        var file = Path.Combine(Directory.CreateTempSubdirectory("m2s-bundle-").FullName, "damaged.m2sbundle");
        File.WriteAllBytes(file, bundle);

        var e = Assert.Throws<BundleRejectedException>(() => ModelBundle.Unpack(file, Path.Combine(Path.GetDirectoryName(file)!, "unpacked"), 1 << 20));

        Assert.Equal(BundleCheck.Format, e.Check);
        Assert.Contains("zip directory is damaged", e.Reason);
    }
}
