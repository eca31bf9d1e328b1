using System.Diagnostics;
using Grpc.Core;
using M2SNet.Edge.Protocol;
using M2SNet.Edge.Protocol.V1;
using M2SNet.Edge.TestSupport;

namespace M2SNet.Edge.Protocol.Tests;

/// <summary>Our client (DaemonConnection on Grpc.Net.Client) against grpc-js, the reference implementation, serving the Segmentation contract.</summary>
public sealed class GrpcJsServerTests : IAsyncLifetime
{
    private Process _server = null!;
    private DaemonConnection _channel = null!;
    private Segmentation.SegmentationClient _client = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        (_server, var port) = await GrpcJs.StartServerAsync();
        _channel = DaemonConnection.Open($"http://127.0.0.1:{port}");
        _client = _channel.Segmentation;
    }

    public ValueTask DisposeAsync()
    {
        _channel.Dispose();
        _server.Kill();
        _server.Dispose();
        return ValueTask.CompletedTask;
    }

    [Fact]
    public async Task Unary_call()
    {
        var info = await _client.GetInfoAsync(new GetInfoRequest(), new CallOptions(cancellationToken: Ct));
        Assert.Equal("grpc-js-reference", info.DaemonVersion);
        Assert.True(info.Ready);
    }

    [Fact]
    public async Task Server_stream_with_its_messages_and_OK()
    {
        using var call = _client.StreamMasks(new StreamMasksRequest { ClientName = "5" }, new CallOptions(cancellationToken: Ct));
        var messages = new List<MaskMessage>();
        await foreach (var m in call.ResponseStream.ReadAllAsync(Ct)) messages.Add(m);
        Assert.Equal([1UL, 2, 3, 4, 5], messages.Select(m => m.Sequence));
        Assert.Equal([3U, 2, 3], messages[0].Mask.Counts);
        Assert.Equal(StatusCode.OK, call.GetStatus().StatusCode);
    }

    [Fact]
    public async Task Error_status_after_messages_with_percent_encoded_unicode_detail()
    {
        using var call = _client.StreamMasks(new StreamMasksRequest { ClientName = "fail:2" }, new CallOptions(cancellationToken: Ct));
        var received = 0;
        var e = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            await foreach (var _ in call.ResponseStream.ReadAllAsync(Ct)) received++;
        });
        Assert.Equal(2, received);
        Assert.Equal(StatusCode.FailedPrecondition, e.StatusCode);
        Assert.Equal("Läsion 100% außer Betrieb", e.Status.Detail);
    }

    [Fact]
    public async Task Deadline_we_send_is_honoured_by_the_reference_server()
    {
        using var call = _client.StreamMasks(new StreamMasksRequest { ClientName = "slow" },
            new CallOptions(deadline: DateTime.UtcNow.AddMilliseconds(300), cancellationToken: Ct));
        var e = await Assert.ThrowsAsync<RpcException>(() => call.ResponseStream.MoveNext(Ct));
        Assert.Equal(StatusCode.DeadlineExceeded, e.StatusCode);
    }

    [Fact]
    public async Task Duplex_stream_echoes_in_order()
    {
        using var call = _client.Segment(new CallOptions(cancellationToken: Ct));
        for (ulong i = 1; i <= 10; i++)
        {
            await call.RequestStream.WriteAsync(new SegmentRequest { ClientSequence = i, Frame = new Frame { Width = (uint)(i * 2) } }, Ct);
        }
        await call.RequestStream.CompleteAsync();
        var echoed = new List<(ulong, uint)>();
        await foreach (var m in call.ResponseStream.ReadAllAsync(Ct)) echoed.Add((m.ClientSequence, m.SourceWidth));
        Assert.Equal(Enumerable.Range(1, 10).Select(i => ((ulong)i, (uint)(i * 2))), echoed);
    }

    [Fact]
    public async Task The_reference_servers_receive_limit_comes_back_as_RESOURCE_EXHAUSTED()
    {
        using var call = _client.Segment(new CallOptions(cancellationToken: Ct));
        var big = new SegmentRequest { Frame = new Frame { Data = Google.Protobuf.ByteString.CopyFrom(new byte[2 * 1024 * 1024]) } };
        // The server ends the call while the message is still being written and stops granting
        // flow-control window without resetting the stream, so the write can wait for ever (ending
        // the call does not release it): the status is read beside the write, and the write is
        // then cancelled by its own token.
        using var stopWriting = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var write = Task.Run(async () =>
        {
            try
            {
                await call.RequestStream.WriteAsync(big, stopWriting.Token);
                await call.RequestStream.CompleteAsync();
            }
            catch (Exception e) when (e is RpcException or InvalidOperationException or OperationCanceledException)
            {
                // Ended by the server, or given up: the status is on the response side.
            }
        }, Ct);
        var e = await Assert.ThrowsAsync<RpcException>(() => call.ResponseStream.MoveNext(Ct));
        await stopWriting.CancelAsync();
        await write;
        Assert.Equal(StatusCode.ResourceExhausted, e.StatusCode);
    }
}
