using Microsoft.AspNetCore.Http;

namespace M2SNet.Edge.Grpc.Server;

/// <summary>What a handler knows about its call: who is calling, the deadline, the request headers, cancellation.</summary>
public sealed class ServerCallContext
{
    internal ServerCallContext(HttpContext http, string method, DateTime? deadline, CancellationToken cancellationToken)
    {
        HttpContext = http;
        Method = method;
        Deadline = deadline;
        CancellationToken = cancellationToken;
    }

    /// <summary>The HTTP/2 exchange underneath (connection, client certificate, features).</summary>
    public HttpContext HttpContext { get; }

    /// <summary>The full method name, <c>/package.Service/Method</c>.</summary>
    public string Method { get; }

    /// <summary>The client's deadline (UTC), if it sent one.</summary>
    public DateTime? Deadline { get; }

    /// <summary>Cancelled when the client goes away, resets the stream, or the deadline passes.</summary>
    public CancellationToken CancellationToken { get; }

    /// <summary>The client's address, e.g. <c>ipv4:127.0.0.1:50432</c>.</summary>
    public string Peer
    {
        get
        {
            var c = HttpContext.Connection;
            var family = c.RemoteIpAddress?.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? "ipv6" : "ipv4";
            return c.RemoteIpAddress is null ? "unknown" : $"{family}:{c.RemoteIpAddress}:{c.RemotePort}";
        }
    }

    public string? GetRequestHeader(string name) => HttpContext.Request.Headers.TryGetValue(name, out var v) ? v.ToString() : null;

    /// <summary>Sends the response headers now, so that a client sees the call accepted before the first message.</summary>
    public Task WriteResponseHeadersAsync() => HttpContext.Response.StartAsync(CancellationToken);

    internal bool ResponseStarted => HttpContext.Response.HasStarted;
}

/// <summary>Where a handler writes its stream of responses.</summary>
public interface IServerStreamWriter<in T>
{
    Task WriteAsync(T message, CancellationToken cancellationToken = default);
}

public delegate Task<TResponse> UnaryServerMethod<in TRequest, TResponse>(TRequest request, ServerCallContext context);

public delegate Task ServerStreamingServerMethod<in TRequest, out TResponse>(
    TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context);

public delegate Task<TResponse> ClientStreamingServerMethod<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream, ServerCallContext context);

public delegate Task DuplexStreamingServerMethod<TRequest, out TResponse>(
    IAsyncStreamReader<TRequest> requestStream, IServerStreamWriter<TResponse> responseStream, ServerCallContext context);
