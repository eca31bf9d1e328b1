using System.IO.Pipelines;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Authentication;
using Google.Protobuf;

namespace M2SNet.Edge.Grpc.Client;

/// <summary>Where a client writes its stream of requests.</summary>
public interface IClientStreamWriter<in T>
{
    Task WriteAsync(T message, CancellationToken cancellationToken = default);

    /// <summary>No more requests: the server sees the end of the request stream.</summary>
    Task CompleteAsync();
}

internal interface IClientCall : IDisposable
{
    Status GetStatus();

    Task<HttpResponseHeaders> ResponseHeadersAsync();
}

/// <summary>
/// One call on the client: the HTTP/2 request (with a pushed body for streaming requests), the
/// response messages as they arrive, and the status from the trailers. Transport failures
/// become <see cref="RpcException"/>s with the gRPC code a client expects (UNAVAILABLE for an
/// unreachable server, DEADLINE_EXCEEDED, CANCELLED).
/// </summary>
internal sealed class ClientCall<TRequest, TResponse> : IClientCall, IAsyncStreamReader<TResponse>, IClientStreamWriter<TRequest>
    where TRequest : IMessage<TRequest>, new()
    where TResponse : IMessage<TResponse>, new()
{
    private readonly GrpcChannel _channel;
    private readonly Method<TRequest, TResponse> _method;
    private readonly CallOptions _options;
    private readonly CancellationTokenSource _cancel;
    private readonly SemaphoreSlim _writeGate = new(1, 1);
    private Task<HttpResponseMessage>? _send;
    private PushContent? _requestBody;
    private HttpResponseMessage? _response;
    private MessageReader<TResponse>? _reader;
    private Status? _status;
    private HttpResponseHeaders? _trailers;
    private TResponse? _current;
    private bool _disposed;

    public ClientCall(GrpcChannel channel, Method<TRequest, TResponse> method, CallOptions options)
    {
        _channel = channel;
        _method = method;
        _options = options;
        _cancel = CancellationTokenSource.CreateLinkedTokenSource(options.CancellationToken, channel.Closing);
        if (options.Deadline is { } deadline)
        {
            var left = deadline.ToUniversalTime() - DateTime.UtcNow;
            _cancel.CancelAfter(left > TimeSpan.Zero ? left : TimeSpan.Zero);
        }
        // Cancellation or the deadline resets the HTTP/2 stream at once, so the server's handler sees it
        // even while nobody is reading the response.
        _cancel.Token.Register(static call => ((ClientCall<TRequest, TResponse>)call!).ResetStream(), this);
    }

    private void ResetStream()
    {
        _requestBody?.Complete();
        Volatile.Read(ref _response)?.Dispose();
    }

    public TResponse Current => _current ?? throw new InvalidOperationException("MoveNext has not returned true");

    public void Start(byte[] framedRequest)
    {
        var content = new ByteArrayContent(framedRequest);
        _send = Send(content);
    }

    public void StartStreaming()
    {
        _requestBody = new PushContent();
        _send = Send(_requestBody);
    }

    private Task<HttpResponseMessage> Send(HttpContent content)
    {
        content.Headers.ContentType = new MediaTypeHeaderValue(Wire.ContentType);
        var request = new HttpRequestMessage(HttpMethod.Post, new Uri(_channel.Address, _method.FullName))
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = content,
        };
        request.Headers.TE.ParseAdd("trailers");
        request.Headers.TryAddWithoutValidation(Wire.AcceptEncodingHeader, "identity");
        request.Headers.UserAgent.ParseAdd("m2snet-edge-grpc/1.0");
        if (_options.Deadline is { } deadline)
        {
            request.Headers.TryAddWithoutValidation(Wire.TimeoutHeader, Wire.FormatTimeout(deadline.ToUniversalTime() - DateTime.UtcNow));
        }
        foreach (var headers in new[] { _channel.Options.Headers, _options.Headers })
        {
            if (headers is null) continue;
            foreach (var (name, value) in headers) request.Headers.TryAddWithoutValidation(name, value);
        }
        return _channel.SendAsync(request, _cancel.Token);
    }

    /// <summary>The response headers, once the server has sent them.</summary>
    public async Task<HttpResponseHeaders> ResponseHeadersAsync() => (await ResponseAsync().ConfigureAwait(false)).Headers;

    public async Task<TResponse> ReadSingleAsync()
    {
        if (!await MoveNext().ConfigureAwait(false))
        {
            throw new RpcException(StatusCode.Internal, $"{_method.FullName} ended with OK but without a response message");
        }
        var response = _current!;
        // Drain to the trailers so the status is the one the server sent.
        if (await MoveNext().ConfigureAwait(false))
        {
            throw new RpcException(StatusCode.Internal, $"{_method.FullName} is unary but the server sent more than one response message");
        }
        return response;
    }

    public async Task<bool> MoveNext(CancellationToken cancellationToken = default)
    {
        if (_status is { } known)
        {
            if (known.StatusCode == StatusCode.OK) return false;
            throw new RpcException(known);
        }
        try
        {
            var reader = await ReaderAsync().ConfigureAwait(false);
            if (reader is null) return Finish(StatusFromHeaders(_response!.Headers) ?? Status.Ok);
            using var linked = cancellationToken.CanBeCanceled ? CancellationTokenSource.CreateLinkedTokenSource(_cancel.Token, cancellationToken) : null;
            var message = await reader.ReadAsync(linked?.Token ?? _cancel.Token).ConfigureAwait(false);
            if (message is not null)
            {
                _current = message;
                return true;
            }
            _trailers = _response!.TrailingHeaders;
            return Finish(StatusFromHeaders(_trailers)
                ?? new Status(StatusCode.Internal, $"{_method.FullName}: the response ended without a {Wire.StatusHeader} trailer"));
        }
        catch (RpcException e) when (_status is null)
        {
            _status = e.Status;
            throw;
        }
        catch (Exception e) when (e is not RpcException)
        {
            var status = Translate(e, cancellationToken);
            _status = status;
            throw new RpcException(status, e);
        }
    }

    public async Task WriteAsync(TRequest message, CancellationToken cancellationToken = default)
    {
        if (_requestBody is null) throw new InvalidOperationException($"{_method.FullName} does not stream requests");
        if (_requestBody.IsCompleted) throw new InvalidOperationException("the request stream has been completed");
        _channel.CheckSize(message);
        var frame = Wire.Frame(message);
        await _writeGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(_cancel.Token, cancellationToken);
            var stream = await _requestBody.Stream.WaitAsync(linked.Token).ConfigureAwait(false);
            await stream.WriteAsync(frame, linked.Token).ConfigureAwait(false);
            await stream.FlushAsync(linked.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not RpcException)
        {
            // The call ended under the writer: report its status if the server has given one. A server
            // that refuses early (trailers-only) may have answered a moment before its reset reached us.
            if (_status is { } known && known.StatusCode != StatusCode.OK) throw new RpcException(known, e);
            if (_send is { IsCompleted: false } pending) await Task.WhenAny(pending, Task.Delay(TimeSpan.FromSeconds(1), CancellationToken.None)).ConfigureAwait(false);
            if (_send is { IsCompletedSuccessfully: true } && StatusFromHeaders(_send.Result.Headers) is { } early) throw new RpcException(early, e);
            throw new RpcException(Translate(e, cancellationToken) is { StatusCode: not StatusCode.Unavailable } s
                ? s
                : new Status(StatusCode.Unavailable, $"the request stream of {_method.FullName} was closed ({e.Message}); the call's status is on its response stream"), e);
        }
        finally
        {
            _writeGate.Release();
        }
    }

    public Task CompleteAsync()
    {
        _requestBody?.Complete();
        return Task.CompletedTask;
    }

    public Status GetStatus() => _status ?? throw new InvalidOperationException("the call has not finished");

    public HttpResponseHeaders GetTrailers() => _trailers ?? throw new InvalidOperationException("the call has not finished");

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        // Cancelling an unfinished call resets its HTTP/2 stream: the server sees the client leave.
        if (_status is null) _cancel.Cancel();
        _requestBody?.Complete();
        _response?.Dispose();
        _cancel.Dispose();
    }

    private bool Finish(Status status)
    {
        _status = status;
        _requestBody?.Complete();
        if (status.StatusCode != StatusCode.OK) throw new RpcException(status);
        return false;
    }

    private async Task<HttpResponseMessage> ResponseAsync()
    {
        if (_response is not null) return _response;
        var response = await _send!.ConfigureAwait(false);
        Volatile.Write(ref _response, response);
        if (_cancel.IsCancellationRequested) ResetStream();
        return response;
    }

    /// <summary>The reader of the response messages; null for a trailers-only response.</summary>
    private async Task<MessageReader<TResponse>?> ReaderAsync()
    {
        if (_reader is not null) return _reader;
        var response = await ResponseAsync().ConfigureAwait(false);
        if (response.StatusCode != HttpStatusCode.OK)
        {
            var status = StatusFromHeaders(response.Headers);
            throw new RpcException(status ?? new Status(Wire.StatusFromHttp((int)response.StatusCode),
                $"{_channel.Address} answered {_method.FullName} with HTTP {(int)response.StatusCode} {response.ReasonPhrase}; is it a gRPC server?"));
        }
        if (StatusFromHeaders(response.Headers) is not null) return null;
        if (!Wire.IsGrpcContentType(response.Content.Headers.ContentType?.MediaType))
        {
            throw new RpcException(StatusCode.Unknown, $"{_channel.Address} answered {_method.FullName} with content-type '{response.Content.Headers.ContentType}', not {Wire.ContentType}");
        }
        var stream = await response.Content.ReadAsStreamAsync(_cancel.Token).ConfigureAwait(false);
        _reader = new MessageReader<TResponse>(PipeReader.Create(stream), _method.ResponseParser, _channel.Options.MaxReceiveMessageSize,
            StatusCode.Internal, "response message");
        return _reader;
    }

    private static Status? StatusFromHeaders(HttpHeaders headers)
    {
        if (!headers.TryGetValues(Wire.StatusHeader, out var codes)) return null;
        var text = codes.FirstOrDefault();
        if (!int.TryParse(text, out var code)) return new Status(StatusCode.Unknown, $"malformed {Wire.StatusHeader} '{text}'");
        var detail = headers.TryGetValues(Wire.MessageHeader, out var messages) ? Wire.DecodeMessage(messages.FirstOrDefault()) : "";
        return new Status((StatusCode)code, detail);
    }

    private Status Translate(Exception e, CancellationToken callerToken)
    {
        // The deadline resets the stream, so a read in flight may fail with any exception (the response
        // was disposed under it), not only a cancellation: what fired the call's token decides.
        var byCaller = _options.CancellationToken.IsCancellationRequested || callerToken.IsCancellationRequested || _disposed;
        if (e is OperationCanceledException || _cancel.IsCancellationRequested)
        {
            var deadlineFired = _cancel.IsCancellationRequested && !byCaller && !_channel.Closing.IsCancellationRequested;
            if (_options.Deadline is { } d && (deadlineFired || DateTime.UtcNow >= d.ToUniversalTime()))
            {
                return new Status(StatusCode.DeadlineExceeded, "the call's deadline passed");
            }
            if (byCaller) return new Status(StatusCode.Cancelled, "the call was cancelled by the client");
        }
        for (var inner = e; inner is not null; inner = inner.InnerException)
        {
            switch (inner)
            {
                case AuthenticationException tls:
                    return new Status(StatusCode.Unavailable, $"TLS with {_channel.Address} failed: {tls.Message}");
                case HttpProtocolException h2:
                    return new Status(h2.ErrorCode switch
                    {
                        0x7 => StatusCode.Unavailable,       // REFUSED_STREAM
                        0x8 => StatusCode.Cancelled,         // CANCEL
                        0xB => StatusCode.ResourceExhausted, // ENHANCE_YOUR_CALM
                        0xC => StatusCode.PermissionDenied,  // INADEQUATE_SECURITY
                        _ => StatusCode.Internal,
                    }, $"{_channel.Address} reset the call: {h2.Message}");
                case HttpRequestException http when http.HttpRequestError is HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError
                    or HttpRequestError.SecureConnectionError or HttpRequestError.ProxyTunnelError:
                    return new Status(StatusCode.Unavailable, $"cannot reach {_channel.Address}: {Innermost(http).Message}");
            }
        }
        if (e is HttpRequestException or IOException)
        {
            var hint = _channel.Address.Scheme == Uri.UriSchemeHttps && Volatile.Read(ref _response) is null
                ? " (over TLS this is how a server refuses a client certificate: check that this client presents one issued by the CA the server trusts)"
                : "";
            return new Status(StatusCode.Unavailable, $"the connection to {_channel.Address} failed mid-call: {Innermost(e).Message}{hint}");
        }
        if (e is OperationCanceledException) return new Status(StatusCode.Cancelled, "the call was cancelled");
        return new Status(StatusCode.Internal, $"{_method.FullName} failed on the client: {e.Message}");
    }

    private static Exception Innermost(Exception e)
    {
        while (e.InnerException is not null) e = e.InnerException;
        return e;
    }

    /// <summary>A request body the caller writes into while the call runs (HTTP/2 full duplex).</summary>
    private sealed class PushContent : HttpContent
    {
        private readonly TaskCompletionSource<Stream> _stream = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task<Stream> Stream => _stream.Task;

        public bool IsCompleted => _done.Task.IsCompleted;

        public void Complete() => _done.TrySetResult();

        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) => SerializeToStreamAsync(stream, context, default);

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
        {
            _stream.TrySetResult(stream);
            await _done.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }

        protected override bool TryComputeLength(out long length)
        {
            length = -1;
            return false;
        }
    }
}
