using System.Net;
using M2SNet.Edge.Protocol.V1;

namespace M2SNet.Edge.Daemon.Tests;

/// <summary>A raw Segment call that announces a message of <c>announced</c> bytes, sends <c>sent</c> of them and stops sending.</summary>
internal sealed class StalledCall : IDisposable
{
    private readonly HttpClient _client;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task<HttpResponseMessage> _response;
    private readonly int _sent;

    /// <param name="handler">How to connect (default: a plain connection from this host).</param>
    /// <param name="headers">Sent with the call (e.g. authorization).</param>
    public StalledCall(string grpcAddress, int announced, int sent, SocketsHttpHandler? handler = null, IReadOnlyDictionary<string, string>? headers = null)
    {
        _client = new HttpClient(handler ?? new SocketsHttpHandler());
        _sent = 5 + sent;
        var prefix = new byte[5];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(prefix.AsSpan(1), (uint)announced);
        var body = new StalledContent([.. prefix, .. new byte[sent]], _stop.Token);
        var request = GrpcWire.Request(grpcAddress, $"/{Segmentation.Descriptor.FullName}/Segment", body);
        foreach (var (name, value) in headers ?? new Dictionary<string, string>()) request.Headers.TryAddWithoutValidation(name, value);
        _response = _client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, _stop.Token);
    }

    /// <summary>
    /// The call's grpc-status and message once it ends; with <paramref name="waitForHolding"/>,
    /// null once that daemon holds all this call sent (over <paramref name="before"/>) without having ended it.
    /// </summary>
    public async Task<(string? Code, string Message)> StatusOrNullAsync(TestDaemon? waitForHolding, double before)
    {
        for (var i = 0; i < 1200; i++)
        {
            if (_response.IsCompleted)
            {
                using var response = await _response;
                await response.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken);
                var message = response.TrailingHeaders.TryGetValues("grpc-message", out var t) ? t.First()
                    : response.Headers.TryGetValues("grpc-message", out var h) ? h.First() : "";
                return (GrpcWire.Status(response), Uri.UnescapeDataString(message));
            }
            if (waitForHolding is not null && await waitForHolding.MetricAsync("m2s_unfinished_message_bytes") >= before + _sent) return (null, "");
            await Task.Delay(50, TestContext.Current.CancellationToken);
        }
        throw new TimeoutException($"the call neither ended nor was held (before {before}, now {(waitForHolding is null ? 0 : await waitForHolding.MetricAsync("m2s_unfinished_message_bytes"))})");
    }

    public void Dispose()
    {
        _stop.Cancel();
        _client.Dispose();
        _stop.Dispose();
    }
}

/// <summary>Request content that writes its bytes and then waits, never completing the request.</summary>
internal sealed class StalledContent(byte[] bytes, CancellationToken stop) : HttpContent
{
    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) => SerializeToStreamAsync(stream, context, CancellationToken.None);

    protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
    {
        await stream.WriteAsync(bytes, cancellationToken);
        await stream.FlushAsync(cancellationToken);
        using var either = CancellationTokenSource.CreateLinkedTokenSource(stop, cancellationToken);
        await Task.Delay(Timeout.Infinite, either.Token).ContinueWith(_ => { }, TaskScheduler.Default);
    }

    protected override bool TryComputeLength(out long length)
    {
        length = 0;
        return false;
    }
}
