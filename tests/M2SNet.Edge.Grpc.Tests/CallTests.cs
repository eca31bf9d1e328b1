using System.Net;
using System.Net.Http.Headers;
using Google.Protobuf;
using M2SNet.Edge.Grpc.Client;
using M2SNet.Edge.Protocol.V1;

namespace M2SNet.Edge.Grpc.Tests;

/// <summary>Our client against our server on Kestrel, over real HTTP/2 on loopback.</summary>
public sealed class CallTests : IAsyncLifetime
{
    private TestServer _server = null!;
    private GrpcChannel _channel = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        _server = await TestServer.StartAsync();
        _channel = GrpcChannel.ForAddress(_server.Http2Address);
    }

    public async ValueTask DisposeAsync()
    {
        _channel.Dispose();
        await _server.DisposeAsync();
    }

    private static SegmentRequest Request(ulong n, int payloadBytes = 0) => new()
    {
        ClientSequence = n,
        Frame = new Frame { Data = ByteString.CopyFrom(new byte[payloadBytes]) },
    };

    [Fact]
    public async Task Unary_call_answers_the_request()
    {
        var reply = await _channel.UnaryAsync(TestApi.Unary, Request(42, 1000), new CallOptions(CancellationToken: Ct));
        Assert.Equal(42UL, reply.ClientSequence);
        Assert.Equal(1000U, reply.SourceWidth);
    }

    [Fact]
    public async Task Server_streaming_delivers_every_message_in_order_then_OK()
    {
        using var call = _channel.ServerStreaming(TestApi.ServerStream, Request(50), new CallOptions(CancellationToken: Ct));
        var sequences = new List<ulong>();
        await foreach (var m in call.ResponseStream.ReadAllAsync(Ct)) sequences.Add(m.Sequence);
        Assert.Equal(Enumerable.Range(1, 50).Select(i => (ulong)i), sequences);
        Assert.Equal(StatusCode.OK, call.GetStatus().StatusCode);
    }

    [Fact]
    public async Task Client_streaming_sees_every_request_then_answers_once()
    {
        using var call = _channel.ClientStreaming(TestApi.ClientStream, new CallOptions(CancellationToken: Ct));
        for (ulong i = 1; i <= 100; i++) await call.RequestStream.WriteAsync(Request(i, 3000), Ct);
        await call.RequestStream.CompleteAsync();
        var reply = await call.ResponseAsync;
        Assert.Equal(100UL, reply.Sequence);
        Assert.Equal(5050UL, reply.ClientSequence);
    }

    [Fact]
    public async Task Duplex_calls_interleave_requests_and_responses()
    {
        using var call = _channel.DuplexStreaming(TestApi.Duplex, new CallOptions(CancellationToken: Ct));
        for (ulong i = 1; i <= 20; i++)
        {
            // Each answer arrives before the next request is sent: nothing waits for the end of the stream.
            await call.RequestStream.WriteAsync(Request(i * 10), Ct);
            Assert.True(await call.ResponseStream.MoveNext(Ct));
            Assert.Equal(i, call.ResponseStream.Current.Sequence);
            Assert.Equal(i * 10, call.ResponseStream.Current.ClientSequence);
        }
        await call.RequestStream.CompleteAsync();
        Assert.False(await call.ResponseStream.MoveNext(Ct));
        Assert.Equal(StatusCode.OK, call.GetStatus().StatusCode);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(3)]
    public async Task A_handler_status_reaches_the_client_with_its_unicode_detail(int messagesFirst)
    {
        using var call = _channel.ServerStreaming(TestApi.Fail, Request((ulong)messagesFirst), new CallOptions(CancellationToken: Ct));
        var received = 0;
        var e = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            await foreach (var _ in call.ResponseStream.ReadAllAsync(Ct)) received++;
        });
        Assert.Equal(messagesFirst, received);
        Assert.Equal(StatusCode.FailedPrecondition, e.StatusCode);
        Assert.Equal(TestServer.FailureDetail, e.Status.Detail);
        Assert.Equal(e.Status, call.GetStatus());
    }

    [Fact]
    public async Task A_handler_that_throws_gives_UNKNOWN_with_a_call_id_and_the_server_keeps_serving()
    {
        var e = await Assert.ThrowsAsync<RpcException>(() => _channel.UnaryAsync(TestApi.Crash, Request(1), new CallOptions(CancellationToken: Ct)));
        Assert.Equal(StatusCode.Unknown, e.StatusCode);
        Assert.Contains("InvalidOperationException", e.Status.Detail);
        Assert.Contains("call id", e.Status.Detail);
        Assert.DoesNotContain("a bug in the handler", e.Status.Detail); // internals stay in the server's log
        Assert.Equal(5UL, (await _channel.UnaryAsync(TestApi.Unary, Request(5), new CallOptions(CancellationToken: Ct))).ClientSequence);
    }

    [Fact]
    public async Task An_unknown_method_is_UNIMPLEMENTED()
    {
        var e = await Assert.ThrowsAsync<RpcException>(() => _channel.UnaryAsync(TestApi.Missing, Request(1), new CallOptions(CancellationToken: Ct)));
        Assert.Equal(StatusCode.Unimplemented, e.StatusCode);
        Assert.Contains("NotThere", e.Status.Detail);
    }

    [Fact]
    public async Task A_deadline_ends_the_call_on_both_sides()
    {
        _server.ResetCancellationProbe();
        var deadline = DateTime.UtcNow.AddSeconds(1);
        using var call = _channel.ServerStreaming(TestApi.WaitForCancel, Request(1), new CallOptions(Deadline: deadline, CancellationToken: Ct));
        var first = call.ResponseStream.MoveNext(Ct);

        // The outcome, whenever it comes: a machine too busy to deliver the first message within the
        // second ends the call at the first read, an idle one at the second; never early, never
        // with another status.
        var e = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            if (await first) await call.ResponseStream.MoveNext(Ct);
        });
        Assert.Equal(StatusCode.DeadlineExceeded, e.StatusCode);
        Assert.True(DateTime.UtcNow >= deadline.AddMilliseconds(-20), "the call ended before its deadline");
        Assert.True(await _server.ServerSawCancellation.Task.WaitAsync(TimeSpan.FromSeconds(60), Ct));
    }

    [Fact]
    public async Task Cancelling_on_the_client_reaches_the_server_handler()
    {
        _server.ResetCancellationProbe();
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        using var call = _channel.ServerStreaming(TestApi.WaitForCancel, Request(1), new CallOptions(CancellationToken: cancel.Token));
        Assert.True(await call.ResponseStream.MoveNext(Ct));
        var next = call.ResponseStream.MoveNext(Ct);
        await cancel.CancelAsync();
        var e = await Assert.ThrowsAsync<RpcException>(() => next);
        Assert.Equal(StatusCode.Cancelled, e.StatusCode);
        Assert.True(await _server.ServerSawCancellation.Task.WaitAsync(TimeSpan.FromSeconds(10), Ct));
    }

    [Fact]
    public async Task A_request_over_the_server_limit_is_RESOURCE_EXHAUSTED_and_the_connection_stays_usable()
    {
        var e = await Assert.ThrowsAsync<RpcException>(() =>
            _channel.UnaryAsync(TestApi.Unary, Request(1, TestServer.MaxReceive + 1), new CallOptions(CancellationToken: Ct)));
        Assert.Equal(StatusCode.ResourceExhausted, e.StatusCode);
        Assert.Contains($"limit of {TestServer.MaxReceive} bytes", e.Status.Detail);
        Assert.Equal(2UL, (await _channel.UnaryAsync(TestApi.Unary, Request(2, TestServer.MaxReceive - 100), new CallOptions(CancellationToken: Ct))).ClientSequence);
    }

    [Fact]
    public async Task A_request_over_the_client_limit_is_refused_before_anything_is_sent()
    {
        using var small = GrpcChannel.ForAddress(_server.Http2Address, new GrpcChannelOptions { MaxSendMessageSize = 1000 });
        var before = Volatile.Read(ref _server.Calls);
        var e = await Assert.ThrowsAsync<RpcException>(() => small.UnaryAsync(TestApi.Unary, Request(1, 2000), new CallOptions(CancellationToken: Ct)));
        Assert.Equal(StatusCode.ResourceExhausted, e.StatusCode);
        Assert.Equal(before, Volatile.Read(ref _server.Calls));
    }

    [Fact]
    public async Task A_response_over_the_client_limit_is_RESOURCE_EXHAUSTED()
    {
        using var small = GrpcChannel.ForAddress(_server.Http2Address, new GrpcChannelOptions { MaxReceiveMessageSize = 10_000 });
        var request = new SegmentRequest { ClientSequence = 7, Frame = new Frame { Width = 20_000 } };
        var e = await Assert.ThrowsAsync<RpcException>(() => small.UnaryAsync(TestApi.Unary, request, new CallOptions(CancellationToken: Ct)));
        Assert.Equal(StatusCode.ResourceExhausted, e.StatusCode);
        request.Frame.Width = 5_000;
        Assert.Equal(5_000, (await small.UnaryAsync(TestApi.Unary, request, new CallOptions(CancellationToken: Ct))).FrameJpeg.Length);
    }

    [Fact]
    public async Task An_unreachable_server_is_UNAVAILABLE()
    {
        using var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop(); // nothing listens there now
        using var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{port}");
        var e = await Assert.ThrowsAsync<RpcException>(() => channel.UnaryAsync(TestApi.Unary, Request(1), new CallOptions(CancellationToken: Ct)));
        Assert.Equal(StatusCode.Unavailable, e.StatusCode);
        Assert.Contains($"127.0.0.1:{port}", e.Status.Detail);
    }

    [Fact]
    public void Addresses_that_are_not_http_are_refused_with_the_expected_form()
    {
        var e = Assert.Throws<ArgumentException>(() => GrpcChannel.ForAddress("127.0.0.1:50051"));
        Assert.Contains("http://HOST:PORT", e.Message);
    }

    // Raw HTTP/2 requests: what a broken or foreign client could send.

    private async Task<(HttpResponseMessage Response, string? Status, string Detail)> RawAsync(byte[] body, string contentType = "application/grpc",
        string address = "", Version? version = null)
    {
        using var http = new HttpClient(new SocketsHttpHandler()) { DefaultRequestVersion = version ?? HttpVersion.Version20 };
        var content = new ByteArrayContent(body);
        content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        var request = new HttpRequestMessage(HttpMethod.Post, (address.Length > 0 ? address : _server.Http2Address) + TestApi.Unary.FullName)
        {
            Content = content,
            Version = version ?? HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
        request.Headers.TE.ParseAdd("trailers");
        var response = await http.SendAsync(request, Ct);
        await response.Content.ReadAsByteArrayAsync(Ct);
        static string? Get(HttpHeaders h, string name) => h.TryGetValues(name, out var v) ? v.First() : null;
        var status = Get(response.TrailingHeaders, Wire.StatusHeader) ?? Get(response.Headers, Wire.StatusHeader);
        var detail = Get(response.TrailingHeaders, Wire.MessageHeader) ?? Get(response.Headers, Wire.MessageHeader) ?? "";
        return (response, status, Wire.DecodeMessage(detail));
    }

    private static byte[] Prefixed(byte flag, byte[] payload, int? declaredLength = null)
    {
        var framed = new byte[5 + payload.Length];
        framed[0] = flag;
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(framed.AsSpan(1), (uint)(declaredLength ?? payload.Length));
        payload.CopyTo(framed, 5);
        return framed;
    }

    [Fact]
    public async Task A_message_that_is_not_the_declared_type_is_INVALID_ARGUMENT()
    {
        // Field 3 (client_sequence, a varint) sent with the length-delimited wire type, pointing past the end.
        var (_, status, detail) = await RawAsync(Prefixed(0, [0x1A, 0x7F, 0x01]));
        Assert.Equal("3", status);
        Assert.Contains("not a valid SegmentRequest", detail);
    }

    [Fact]
    public async Task A_stream_that_ends_inside_a_message_is_INVALID_ARGUMENT()
    {
        var (_, status, detail) = await RawAsync(Prefixed(0, [0x18, 0x01], declaredLength: 100));
        Assert.Equal("3", status);
        Assert.Contains("ended inside", detail);
    }

    [Fact]
    public async Task A_compressed_message_is_UNIMPLEMENTED()
    {
        var (_, status, detail) = await RawAsync(Prefixed(1, [0x18, 0x01]));
        Assert.Equal("12", status);
        Assert.Contains("compressed", detail);
    }

    [Fact]
    public async Task A_declared_length_over_the_limit_is_refused_before_the_body_arrives()
    {
        var (_, status, _) = await RawAsync(Prefixed(0, [0x18, 0x01], declaredLength: int.MaxValue));
        Assert.Equal("8", status);
    }

    [Fact]
    public async Task A_request_without_the_grpc_content_type_is_415()
    {
        var (response, status, _) = await RawAsync(Prefixed(0, [0x18, 0x01]), contentType: "application/json");
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, response.StatusCode);
        Assert.Null(status);
    }

    [Fact]
    public async Task A_request_over_HTTP_1_1_is_told_to_use_HTTP_2()
    {
        var (response, _, _) = await RawAsync(Prefixed(0, [0x18, 0x01]), address: _server.Http1Address, version: HttpVersion.Version11);
        Assert.Equal(HttpStatusCode.UpgradeRequired, response.StatusCode);
        Assert.Contains("HTTP/2", await response.Content.ReadAsStringAsync(Ct));
    }

    [Fact]
    public async Task A_malformed_timeout_header_is_INTERNAL()
    {
        using var http = new HttpClient(new SocketsHttpHandler());
        var content = new ByteArrayContent(Prefixed(0, [0x18, 0x01]));
        content.Headers.ContentType = new MediaTypeHeaderValue("application/grpc");
        var request = new HttpRequestMessage(HttpMethod.Post, _server.Http2Address + TestApi.Unary.FullName)
        {
            Content = content, Version = HttpVersion.Version20, VersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
        request.Headers.TryAddWithoutValidation(Wire.TimeoutHeader, "soon");
        var response = await http.SendAsync(request, Ct);
        Assert.Equal("13", response.Headers.GetValues(Wire.StatusHeader).Single());
    }
}
