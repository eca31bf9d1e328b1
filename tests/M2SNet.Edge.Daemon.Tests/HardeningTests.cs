using System.Net;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Health.V1;
using M2SNet.Edge.Protocol;
using M2SNet.Edge.Protocol.V1;
using M2SNet.Edge.TestSupport;

namespace M2SNet.Edge.Daemon.Tests;

/// <summary>
/// What an independent client broke (issue 17), each kept broken-proof by its own test: client
/// text echoed without bound (D7), a unary call with two messages, an impossible bundle size, a
/// malformed announced SHA-256.
/// </summary>
public sealed class HardeningTests(DaemonFixture fixture)
{
    private readonly TestDaemon _daemon = fixture.Daemon;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static CallOptions Call() => new(deadline: DateTime.UtcNow.AddSeconds(60), cancellationToken: Ct);

    private static readonly string Huge = new('x', 100_000);

    [Fact]
    public async Task D7_a_100_kB_service_name_gets_NOT_FOUND_with_a_short_message()
    {
        var e = await Assert.ThrowsAsync<RpcException>(async () => await _daemon.Health.CheckAsync(new HealthCheckRequest { Service = Huge }, Call()));

        Assert.Equal(StatusCode.NotFound, e.StatusCode);
        Assert.True(System.Text.Encoding.UTF8.GetByteCount(e.Status.Detail) <= 1024, $"{e.Status.Detail.Length} characters came back");
    }

    [Fact]
    public async Task D7_client_text_in_admin_refusals_is_quoted_short()
    {
        var activate = await Assert.ThrowsAsync<RpcException>(async () => await _daemon.Admin.ActivateModelAsync(new ActivateModelRequest { Key = Huge }, Call()));
        Assert.Equal(StatusCode.NotFound, activate.StatusCode);
        Assert.Contains("(99872 more characters)", activate.Status.Detail);

        using var upload = _daemon.Admin.UploadModel(Call());
        await upload.RequestStream.WriteAsync(new UploadModelRequest { UploadId = Huge, TotalBytes = 10, Data = ByteString.CopyFromUtf8("0123456789") }, Ct);
        await upload.RequestStream.CompleteAsync();
        var e = await Assert.ThrowsAsync<RpcException>(async () => await upload.ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Contains("is not 1 to 64 of", e.Status.Detail);
        Assert.True(e.Status.Detail.Length < 400, $"{e.Status.Detail.Length} characters came back");
    }

    [Theory]
    [InlineData("x", 100_000)]
    [InlineData("é", 5_000)]      // two bytes each
    [InlineData("😷", 3_000)]     // four bytes, two UTF-16 units each: never cut in half
    public void D7_a_status_message_is_cut_to_1_KiB_on_a_character_boundary(string unit, int count)
    {
        var detail = string.Concat(Enumerable.Repeat(unit, count));
        var capped = Services.ClientText.CapStatus(detail);

        Assert.True(System.Text.Encoding.UTF8.GetByteCount(capped) <= Services.ClientText.MaxStatusBytes);
        Assert.Matches(@"… \(cut: \d+ more characters\)$", capped);
        Assert.DoesNotContain("\uFFFD", System.Text.Encoding.UTF8.GetString(System.Text.Encoding.UTF8.GetBytes(capped)));
        Assert.StartsWith(string.Concat(Enumerable.Repeat(unit, 100)), capped);
        Assert.Same("short", Services.ClientText.CapStatus("short"));
    }

    [Fact]
    public async Task A_unary_call_with_two_request_messages_is_not_answered_OK()
    {
        using var http = new HttpClient(new SocketsHttpHandler());
        var one = GrpcWire.Frame(new GetInfoRequest());
        using var request = GrpcWire.Request(_daemon.GrpcAddress, $"/{Segmentation.Descriptor.FullName}/GetInfo", new ByteArrayContent([.. one, .. one]));
        using var response = await http.SendAsync(request, Ct);
        await response.Content.ReadAsByteArrayAsync(Ct);

        var status = GrpcWire.Status(response);
        Assert.NotNull(status);
        Assert.NotEqual("0", status);
    }

    [Fact]
    public async Task A_bundle_announced_at_2_to_the_63_bytes_is_refused_for_its_size()
    {
        using var upload = _daemon.Admin.UploadModel(Call());
        await upload.RequestStream.WriteAsync(new UploadModelRequest { UploadId = "huge-" + Guid.NewGuid().ToString("N")[..8], TotalBytes = 1UL << 63 }, Ct);
        await upload.RequestStream.CompleteAsync();
        var e = await Assert.ThrowsAsync<RpcException>(async () => await upload.ResponseAsync);

        Assert.Equal(StatusCode.ResourceExhausted, e.StatusCode);
        Assert.Contains("9223372036854775808 bytes", e.Status.Detail);
    }

    [Fact]
    public async Task A_malformed_announced_SHA_256_is_refused_at_the_first_message()
    {
        var id = "badsha-" + Guid.NewGuid().ToString("N")[..8];
        using var upload = _daemon.Admin.UploadModel(Call());
        await upload.RequestStream.WriteAsync(new UploadModelRequest { UploadId = id, TotalBytes = 1_000_000, BundleSha256 = "not-a-hash", Data = ByteString.CopyFrom(new byte[1000]) }, Ct);
        var e = await Assert.ThrowsAsync<RpcException>(async () => await upload.ResponseAsync);

        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Contains("bundle_sha256 'not-a-hash' is not 64 hexadecimal digits", e.Status.Detail);
        var status = await _daemon.Admin.GetUploadStatusAsync(new GetUploadStatusRequest { UploadId = id }, Call());
        Assert.False(status.Exists);
    }
}

/// <summary>D1 and D2: the limits on calls and on the bytes they hold are the daemon's, not one client's.</summary>
public sealed class CallLimitTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static HttpRequestMessage StreamMasksRequest(TestDaemon daemon) =>
        GrpcWire.Request(daemon.GrpcAddress, $"/{Segmentation.Descriptor.FullName}/StreamMasks",
            new ByteArrayContent(GrpcWire.Frame(new StreamMasksRequest { ClientName = "never-reads" })));

    [Fact]
    public async Task D1_streams_that_stopped_reading_make_room_for_a_new_viewer()
    {
        await using var daemon = await TestDaemon.StartAsync(new Dictionary<string, string?>
        {
            ["Daemon:Stream:MaxSubscribers"] = "3",
            ["Daemon:Stream:StalledAfterSeconds"] = "0.5",
        });
        // One connection takes every place and never reads: its flow-control windows stay shut.
        using var hog = new HttpClient(new SocketsHttpHandler());
        var held = new List<HttpResponseMessage>();
        for (var i = 0; i < 3; i++) held.Add(await hog.SendAsync(StreamMasksRequest(daemon), HttpCompletionOption.ResponseHeadersRead, Ct));

        // A viewer asks, and asks again while it is refused: the places of the stalled streams free up.
        MaskMessage? first = null;
        for (var attempt = 0; attempt < 400 && first is null; attempt++)
        {
            using var call = daemon.Client.StreamMasks(new StreamMasksRequest { ClientName = "viewer" }, cancellationToken: Ct);
            try
            {
                if (await call.ResponseStream.MoveNext(Ct)) first = call.ResponseStream.Current;
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.ResourceExhausted)
            {
                await Task.Delay(50, Ct);
            }
        }

        Assert.NotNull(first);
        Assert.True(await daemon.MetricAsync("m2s_ready") == 1);
        foreach (var r in held) r.Dispose();
    }

    [Fact]
    public async Task D2_Segment_calls_count_towards_the_limit()
    {
        await using var daemon = await TestDaemon.StartAsync(new Dictionary<string, string?> { ["Daemon:Stream:MaxSubscribers"] = "2" });
        using var small = Masks.Solid(48, 64);
        var frame = new M2SNet.Edge.Protocol.V1.Frame { Format = PixelFormat.Bgr24, Width = 64, Height = 48, Data = ByteString.CopyFrom(small.AsSpan<byte>()) };
        var calls = new List<AsyncDuplexStreamingCall<SegmentRequest, MaskMessage>>();
        for (var i = 0; i < 2; i++)
        {
            var call = daemon.Client.Segment(cancellationToken: Ct);
            await call.RequestStream.WriteAsync(new SegmentRequest { Frame = frame }, Ct);
            Assert.True(await call.ResponseStream.MoveNext(Ct));
            calls.Add(call);
        }

        using var viewer = daemon.Client.StreamMasks(new StreamMasksRequest(), cancellationToken: Ct);
        var e = await Assert.ThrowsAsync<RpcException>(() => viewer.ResponseStream.MoveNext(Ct));
        Assert.Equal(StatusCode.ResourceExhausted, e.StatusCode);
        Assert.Contains("2 Segment calls", e.Status.Detail);

        foreach (var call in calls)
        {
            await call.RequestStream.CompleteAsync();
            while (await call.ResponseStream.MoveNext(Ct))
            {
            }
            call.Dispose();
        }
        using var after = daemon.Client.StreamMasks(new StreamMasksRequest(), cancellationToken: Ct);
        Assert.True(await after.ResponseStream.MoveNext(Ct));
    }

    [Fact]
    public async Task D2_unfinished_messages_are_bounded_across_calls_and_released_when_they_end()
    {
        await using var daemon = await TestDaemon.StartAsync(new Dictionary<string, string?>
        {
            ["Daemon:Limits:MaxReceiveMessageBytes"] = (4 << 20).ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Daemon:Limits:MaxUnfinishedMessageBytes"] = (7 << 20).ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Daemon:Limits:MessageTimeoutSeconds"] = "0",
        });
        // Each call announces a 4 MiB frame, sends 3 MiB of it and stops, on a connection of its own.
        var stalled = new List<StalledCall>();
        var statuses = new List<(string? Code, string Message)>();
        for (var i = 0; i < 3; i++)
        {
            var before = await daemon.MetricAsync("m2s_unfinished_message_bytes") ?? 0;
            stalled.Add(new StalledCall(daemon.GrpcAddress, announced: 4 << 20, sent: 3 << 20));
            statuses.Add(await stalled[^1].StatusOrNullAsync(daemon, before));
        }

        // Two fit the 7 MiB, the third is refused with the reason; the daemon holds no more than its limit.
        var refused = Assert.Single(statuses, s => s.Code is not null);
        Assert.Equal("8", refused.Code);
        Assert.Contains("MaxUnfinishedMessageBytes", refused.Message);
        Assert.InRange(await daemon.MetricAsync("m2s_unfinished_message_bytes") ?? -1, 6 << 20, 7 << 20);
        Assert.Equal(1, await daemon.MetricAsync("m2s_calls_refused_for_unfinished_messages_total"));

        // Other clients are served meanwhile, and the bytes are released when the stalled calls go.
        using var viewer = daemon.Client.StreamMasks(new StreamMasksRequest(), cancellationToken: Ct);
        Assert.True(await viewer.ResponseStream.MoveNext(Ct));
        foreach (var call in stalled) call.Dispose();
        for (var i = 0; i < 400 && await daemon.MetricAsync("m2s_unfinished_message_bytes") != 0; i++) await Task.Delay(50, Ct);
        Assert.Equal(0, await daemon.MetricAsync("m2s_unfinished_message_bytes"));
    }

    [Fact]
    public async Task D2_a_message_that_stops_arriving_ends_its_call_after_the_message_timeout()
    {
        await using var daemon = await TestDaemon.StartAsync(new Dictionary<string, string?> { ["Daemon:Limits:MessageTimeoutSeconds"] = "0.5" });
        using var call = new StalledCall(daemon.GrpcAddress, announced: 100_000, sent: 50_000);

        var (code, message) = await call.StatusOrNullAsync(waitForHolding: null, 0);

        Assert.Equal("8", code);
        Assert.Contains("frame #1", message);
        Assert.Contains("MessageTimeoutSeconds", message);
        for (var i = 0; i < 400 && await daemon.MetricAsync("m2s_unfinished_message_bytes") != 0; i++) await Task.Delay(50, Ct);
        Assert.Equal(0, await daemon.MetricAsync("m2s_unfinished_message_bytes"));
    }

    [Fact]
    public async Task Sockets_held_open_without_a_word_cannot_take_more_than_the_connection_limit()
    {
        await using var daemon = await TestDaemon.StartAsync(new Dictionary<string, string?> { ["Daemon:Limits:MaxConnections"] = "4" });
        var port = new Uri(daemon.GrpcAddress).Port;
        var held = new List<System.Net.Sockets.TcpClient>();
        // Connections that never send a preface, up to past the limit (the daemon's own test client holds one).
        for (var i = 0; i < 4; i++)
        {
            var socket = new System.Net.Sockets.TcpClient();
            await socket.ConnectAsync(IPAddress.Loopback, port, Ct);
            held.Add(socket);
        }
        using (var refused = DaemonConnection.Open(daemon.GrpcAddress))
        {
            await Assert.ThrowsAsync<RpcException>(() => refused.Segmentation.GetInfoAsync(new GetInfoRequest(), deadline: DateTime.UtcNow.AddSeconds(30), cancellationToken: Ct).ResponseAsync);
        }

        foreach (var socket in held) socket.Dispose();
        DaemonInfo? info = null;
        for (var attempt = 0; attempt < 200 && info is null; attempt++)
        {
            using var again = DaemonConnection.Open(daemon.GrpcAddress);
            try
            {
                info = await again.Segmentation.GetInfoAsync(new GetInfoRequest(), cancellationToken: Ct);
            }
            catch (RpcException)
            {
                await Task.Delay(50, Ct);
            }
        }
        Assert.NotNull(info);
    }

    [Theory]
    [InlineData("ipv4:10.0.0.5:51234", "10.0.0.5")]
    [InlineData("ipv6:[fe80::1]:443", "fe80::1")]
    [InlineData("ipv6:[::1]:50051", "::1")]
    [InlineData("unix:/run/m2s.sock", "unix:/run/m2s.sock")]
    public void A_peer_is_counted_by_its_address(string peer, string host) =>
        Assert.Equal(host, Streaming.MaskPublisher.PeerHost(peer));
}
