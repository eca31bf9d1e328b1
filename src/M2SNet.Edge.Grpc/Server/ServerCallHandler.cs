using System.Diagnostics;
using Google.Protobuf;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;
using Microsoft.Extensions.Logging;

namespace M2SNet.Edge.Grpc.Server;

/// <summary>
/// Runs one call on the server: checks that the request is gRPC over HTTP/2, applies the deadline,
/// hands the handler typed readers and writers, and ends the exchange with grpc-status and
/// grpc-message trailers (headers only, when nothing was sent). A handler's failure becomes a
/// status; it never escapes to the host.
/// </summary>
internal sealed class ServerCallHandler<TRequest, TResponse>(Method<TRequest, TResponse> method, GrpcServerOptions options, ILogger logger)
    where TRequest : IMessage<TRequest>, new()
    where TResponse : IMessage<TResponse>, new()
{
    public Task HandleUnary(HttpContext http, UnaryServerMethod<TRequest, TResponse> handler) =>
        Run(http, async (reader, writer, context) =>
        {
            var request = await ReadSingle(reader, context).ConfigureAwait(false);
            var response = await handler(request, context).ConfigureAwait(false);
            await writer.WriteAsync(response, context.CancellationToken).ConfigureAwait(false);
        });

    public Task HandleServerStreaming(HttpContext http, ServerStreamingServerMethod<TRequest, TResponse> handler) =>
        Run(http, async (reader, writer, context) =>
        {
            var request = await ReadSingle(reader, context).ConfigureAwait(false);
            await handler(request, writer, context).ConfigureAwait(false);
        });

    public Task HandleClientStreaming(HttpContext http, ClientStreamingServerMethod<TRequest, TResponse> handler) =>
        Run(http, async (reader, writer, context) =>
        {
            var response = await handler(reader, context).ConfigureAwait(false);
            await writer.WriteAsync(response, context.CancellationToken).ConfigureAwait(false);
        });

    public Task HandleDuplexStreaming(HttpContext http, DuplexStreamingServerMethod<TRequest, TResponse> handler) =>
        Run(http, (reader, writer, context) => handler(reader, writer, context));

    private async Task<TRequest> ReadSingle(MessageReader<TRequest> reader, ServerCallContext context)
    {
        var request = await reader.ReadAsync(context.CancellationToken).ConfigureAwait(false)
            ?? throw new RpcException(StatusCode.Internal, $"{method.FullName} expects one request message and the client sent none");
        return request;
    }

    private async Task Run(HttpContext http, Func<MessageReader<TRequest>, ResponseWriter, ServerCallContext, Task> body)
    {
        if (http.Request.Protocol != "HTTP/2")
        {
            // gRPC needs HTTP/2; answer plainly so that a curl or browser user sees why.
            http.Response.StatusCode = StatusCodes.Status426UpgradeRequired;
            http.Response.Headers.Upgrade = "h2c";
            await http.Response.WriteAsync($"{method.FullName} is a gRPC method: call it over HTTP/2 with content-type {Wire.ContentType}\n").ConfigureAwait(false);
            return;
        }
        if (!Wire.IsGrpcContentType(http.Request.ContentType))
        {
            http.Response.StatusCode = StatusCodes.Status415UnsupportedMediaType;
            await http.Response.WriteAsync($"{method.FullName} expects content-type {Wire.ContentType}, not '{http.Request.ContentType}'\n").ConfigureAwait(false);
            return;
        }

        // Streams last as long as the call: the per-request body limits of plain HTTP do not apply,
        // the per-message limit does.
        if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } size) size.MaxRequestBodySize = null;
        if (http.Features.Get<IHttpMinRequestBodyDataRateFeature>() is { } rate) rate.MinDataRate = null;

        http.Response.ContentType = Wire.ContentType;
        http.Response.Headers[Wire.AcceptEncodingHeader] = "identity";

        DateTime? deadline = null;
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted);
        if (http.Request.Headers.TryGetValue(Wire.TimeoutHeader, out var timeoutText))
        {
            if (!Wire.TryParseTimeout(timeoutText, out var timeout))
            {
                WriteStatus(http, new Status(StatusCode.Internal, $"malformed {Wire.TimeoutHeader} header '{timeoutText}'"));
                return;
            }
            deadline = DateTime.UtcNow + timeout;
            cancel.CancelAfter(timeout);
        }

        var context = new ServerCallContext(http, method.FullName, deadline, cancel.Token);
        var reader = new MessageReader<TRequest>(http.Request.BodyReader, method.RequestParser, options.MaxReceiveMessageSize,
            StatusCode.InvalidArgument, "request message");
        var writer = new ResponseWriter(http, options.MaxSendMessageSize);
        Status status;
        try
        {
            await body(reader, writer, context).ConfigureAwait(false);
            status = Status.Ok;
        }
        catch (RpcException e)
        {
            status = e.Status;
        }
        catch (OperationCanceledException) when (http.RequestAborted.IsCancellationRequested)
        {
            // The client reset the stream or went away: there is nobody to tell.
            logger.LogDebug("{Method}: the client cancelled the call ({Peer})", method.FullName, context.Peer);
            return;
        }
        // The token is linked to the client's abort (handled above) and the deadline timer only, so a
        // cancellation that is not the client's is the deadline (the timer may fire a tick before the clock).
        catch (OperationCanceledException) when (deadline is not null && cancel.IsCancellationRequested)
        {
            status = new Status(StatusCode.DeadlineExceeded, "the call's deadline passed");
        }
        catch (Exception e) when (e is IOException or ConnectionAbortedException && http.RequestAborted.IsCancellationRequested)
        {
            logger.LogDebug("{Method}: the connection to {Peer} closed mid-call", method.FullName, context.Peer);
            return;
        }
        catch (Exception e)
        {
            var id = Activity.Current?.TraceId.ToString() ?? http.TraceIdentifier;
            logger.LogError(e, "{Method}: the handler failed (call {CallId}, client {Peer})", method.FullName, id, context.Peer);
            status = new Status(StatusCode.Unknown, $"the server failed to handle the call ({e.GetType().Name}); its log has the details under call id {id}");
        }

        if (status.StatusCode != StatusCode.OK)
        {
            logger.LogInformation("{Method} from {Peer} ended with {Code}: {Detail}", method.FullName, context.Peer, status.StatusCode, status.Detail);
        }
        WriteStatus(http, status);
    }

    private static void WriteStatus(HttpContext http, Status status)
    {
        var code = ((int)status.StatusCode).ToString(System.Globalization.CultureInfo.InvariantCulture);
        var detail = status.Detail.Length == 0 ? null : Wire.EncodeMessage(status.Detail);
        if (!http.Response.HasStarted)
        {
            // Trailers-only: the status travels in the one HEADERS frame that ends the stream.
            http.Response.Headers[Wire.StatusHeader] = code;
            if (detail is not null) http.Response.Headers[Wire.MessageHeader] = detail;
            return;
        }
        http.Response.AppendTrailer(Wire.StatusHeader, code);
        if (detail is not null) http.Response.AppendTrailer(Wire.MessageHeader, detail);
    }

    private sealed class ResponseWriter(HttpContext http, int maxMessageSize) : IServerStreamWriter<TResponse>
    {
        public async Task WriteAsync(TResponse message, CancellationToken cancellationToken = default)
        {
            var size = message.CalculateSize();
            if (size > maxMessageSize)
            {
                throw new RpcException(StatusCode.ResourceExhausted, $"response message of {size} bytes exceeds the server's limit of {maxMessageSize} bytes");
            }
            Wire.WriteMessage(http.Response.BodyWriter, message);
            var flushed = await http.Response.BodyWriter.FlushAsync(cancellationToken).ConfigureAwait(false);
            if (flushed.IsCanceled) throw new OperationCanceledException(cancellationToken);
        }
    }
}
