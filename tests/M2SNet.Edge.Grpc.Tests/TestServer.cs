using M2SNet.Edge.Grpc.Server;
using M2SNet.Edge.Protocol.V1;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace M2SNet.Edge.Grpc.Tests;

/// <summary>
/// Methods of a test service with scripted behaviour, carried by the Segmentation messages:
/// the request's client_sequence says what to do, the responses echo it.
/// </summary>
public static class TestApi
{
    public const string Service = "m2snet.test.Scripted";

    public static readonly Method<SegmentRequest, MaskMessage> Unary = new(MethodType.Unary, Service, "Unary");
    public static readonly Method<SegmentRequest, MaskMessage> ServerStream = new(MethodType.ServerStreaming, Service, "ServerStream");
    public static readonly Method<SegmentRequest, MaskMessage> ClientStream = new(MethodType.ClientStreaming, Service, "ClientStream");
    public static readonly Method<SegmentRequest, MaskMessage> Duplex = new(MethodType.DuplexStreaming, Service, "Duplex");
    public static readonly Method<SegmentRequest, MaskMessage> WaitForCancel = new(MethodType.ServerStreaming, Service, "WaitForCancel");
    public static readonly Method<SegmentRequest, MaskMessage> Fail = new(MethodType.ServerStreaming, Service, "Fail");
    public static readonly Method<SegmentRequest, MaskMessage> Crash = new(MethodType.Unary, Service, "Crash");
    public static readonly Method<SegmentRequest, MaskMessage> Missing = new(MethodType.Unary, Service, "NotThere");
}

/// <summary>The test service on Kestrel: an HTTP/2 (h2c) endpoint and an HTTP/1.1 one, both on free loopback ports.</summary>
public sealed class TestServer : IAsyncDisposable
{
    public const string FailureDetail = "Läsion 100% außer Betrieb — 病変";
    public const int MaxReceive = 64 * 1024;

    private readonly WebApplication _app;

    /// <summary>Completed with how a WaitForCancel call ended on the server (its token fired: true).</summary>
    public TaskCompletionSource<bool> ServerSawCancellation { get; private set; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public int Calls;

    private TestServer(WebApplication app) => _app = app;

    public string Http2Address { get; private set; } = "";

    public string Http1Address { get; private set; } = "";

    public void ResetCancellationProbe() => ServerSawCancellation = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public static async Task<TestServer> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.Configure<GrpcServerOptions>(o =>
        {
            o.MaxReceiveMessageSize = MaxReceive;
            o.MaxSendMessageSize = 8 * 1024 * 1024;
        });
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Listen(System.Net.IPAddress.Loopback, 0, l => l.Protocols = HttpProtocols.Http2);
            k.Listen(System.Net.IPAddress.Loopback, 0, l => l.Protocols = HttpProtocols.Http1);
        });
        var app = builder.Build();
        var server = new TestServer(app);
        server.Map(app);
        await app.StartAsync();
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.ToArray();
        server.Http2Address = addresses[0];
        server.Http1Address = addresses[1];
        return server;
    }

    private static MaskMessage Echo(SegmentRequest r, ulong sequence = 1) => new()
    {
        Sequence = sequence,
        ClientSequence = r.ClientSequence,
        SourceWidth = (uint)(r.Frame?.Data.Length ?? 0),
    };

    private void Map(WebApplication app)
    {
        app.MapGrpcUnary(TestApi.Unary, (r, _) =>
        {
            Interlocked.Increment(ref Calls);
            // client_sequence 7 asks for a response of Frame.width bytes (to test the client's receive limit).
            var reply = Echo(r);
            if (r.ClientSequence == 7) reply.FrameJpeg = Google.Protobuf.ByteString.CopyFrom(new byte[r.Frame.Width]);
            return Task.FromResult(reply);
        });
        app.MapGrpcServerStreaming(TestApi.ServerStream, async (r, writer, context) =>
        {
            for (ulong i = 1; i <= r.ClientSequence; i++) await writer.WriteAsync(Echo(r, i), context.CancellationToken);
        });
        app.MapGrpcClientStreaming(TestApi.ClientStream, async (requests, context) =>
        {
            ulong sum = 0, count = 0;
            await foreach (var r in requests.ReadAllAsync(context.CancellationToken))
            {
                sum += r.ClientSequence;
                count++;
            }
            return new MaskMessage { ClientSequence = sum, Sequence = count };
        });
        app.MapGrpcDuplexStreaming(TestApi.Duplex, async (requests, writer, context) =>
        {
            ulong n = 0;
            await foreach (var r in requests.ReadAllAsync(context.CancellationToken)) await writer.WriteAsync(Echo(r, ++n), context.CancellationToken);
        });
        app.MapGrpcServerStreaming(TestApi.WaitForCancel, async (r, writer, context) =>
        {
            await writer.WriteAsync(Echo(r), context.CancellationToken);
            try
            {
                await Task.Delay(Timeout.Infinite, context.CancellationToken);
            }
            catch (OperationCanceledException)
            {
                ServerSawCancellation.TrySetResult(true);
                throw;
            }
        });
        app.MapGrpcServerStreaming(TestApi.Fail, async (r, writer, context) =>
        {
            // Sends client_sequence messages first (0: none, so the status travels trailers-only).
            for (ulong i = 1; i <= r.ClientSequence; i++) await writer.WriteAsync(Echo(r, i), context.CancellationToken);
            throw new RpcException(StatusCode.FailedPrecondition, FailureDetail);
        });
        app.MapGrpcUnary<SegmentRequest, MaskMessage>(TestApi.Crash, (_, _) => throw new InvalidOperationException("a bug in the handler"));
        app.MapGrpcUnimplemented();
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
