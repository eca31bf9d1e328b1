using System.Net.Http.Headers;

namespace M2SNet.Edge.Grpc.Client;

/// <summary>A call answered by a stream of messages. Disposing it before the end cancels the call.</summary>
public sealed class AsyncServerStreamingCall<TResponse> : IDisposable
{
    private readonly IClientCall _call;

    internal AsyncServerStreamingCall(IClientCall call, IAsyncStreamReader<TResponse> responses)
    {
        _call = call;
        ResponseStream = responses;
    }

    public IAsyncStreamReader<TResponse> ResponseStream { get; }

    public Task<HttpResponseHeaders> ResponseHeadersAsync() => _call.ResponseHeadersAsync();

    /// <summary>The final status, once the response stream has ended.</summary>
    public Status GetStatus() => _call.GetStatus();

    public void Dispose() => _call.Dispose();
}

/// <summary>A call where both sides stream. Disposing it before the end cancels the call.</summary>
public sealed class AsyncDuplexStreamingCall<TRequest, TResponse> : IDisposable
{
    private readonly IClientCall _call;

    internal AsyncDuplexStreamingCall(IClientCall call, IClientStreamWriter<TRequest> requests, IAsyncStreamReader<TResponse> responses)
    {
        _call = call;
        RequestStream = requests;
        ResponseStream = responses;
    }

    public IClientStreamWriter<TRequest> RequestStream { get; }

    public IAsyncStreamReader<TResponse> ResponseStream { get; }

    public Task<HttpResponseHeaders> ResponseHeadersAsync() => _call.ResponseHeadersAsync();

    public Status GetStatus() => _call.GetStatus();

    public void Dispose() => _call.Dispose();
}

/// <summary>A call where the client streams and the server answers once.</summary>
public sealed class AsyncClientStreamingCall<TRequest, TResponse> : IDisposable
{
    private readonly IClientCall _call;
    private readonly Lazy<Task<TResponse>> _response;

    internal AsyncClientStreamingCall(IClientCall call, IClientStreamWriter<TRequest> requests, Func<Task<TResponse>> readResponse)
    {
        _call = call;
        RequestStream = requests;
        _response = new Lazy<Task<TResponse>>(readResponse);
    }

    public IClientStreamWriter<TRequest> RequestStream { get; }

    /// <summary>The server's one answer (after <see cref="IClientStreamWriter{T}.CompleteAsync"/>, or earlier if the server ends the call).</summary>
    public Task<TResponse> ResponseAsync => _response.Value;

    public Status GetStatus() => _call.GetStatus();

    public void Dispose() => _call.Dispose();
}
