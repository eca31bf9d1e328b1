using System.Net;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Google.Protobuf;

namespace M2SNet.Edge.Grpc.Client;

/// <summary>How a channel connects: message limits, TLS trust and client certificate, keep-alive.</summary>
public sealed record GrpcChannelOptions
{
    /// <summary>Largest response message accepted (RESOURCE_EXHAUSTED beyond it).</summary>
    public int MaxReceiveMessageSize { get; init; } = Wire.DefaultMaxReceiveMessageSize;

    /// <summary>Largest request message sent (RESOURCE_EXHAUSTED beyond it, before anything is sent).</summary>
    public int MaxSendMessageSize { get; init; } = 64 * 1024 * 1024;

    /// <summary>For https: the certificate authority (or the self-signed server certificate) to trust instead of the system store.</summary>
    public X509Certificate2? TrustedCertificate { get; init; }

    /// <summary>For https: the certificate this client presents (mutual TLS).</summary>
    public X509Certificate2? ClientCertificate { get; init; }

    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>HTTP/2 PING interval that detects a dead connection on an idle stream.</summary>
    public TimeSpan KeepAlivePingDelay { get; init; } = TimeSpan.FromSeconds(20);

    /// <summary>Headers sent with every call (e.g. authorization).</summary>
    public IReadOnlyDictionary<string, string>? Headers { get; init; }
}

/// <summary>Per-call settings: a deadline, cancellation and extra headers.</summary>
public readonly record struct CallOptions(
    DateTime? Deadline = null,
    CancellationToken CancellationToken = default,
    IReadOnlyDictionary<string, string>? Headers = null);

/// <summary>
/// A connection to one gRPC server (one HTTP/2 connection, multiplexing calls). Cleartext
/// addresses (<c>http://</c>) speak HTTP/2 with prior knowledge (h2c); <c>https://</c> uses TLS with ALPN.
/// </summary>
public sealed class GrpcChannel : IDisposable
{
    private readonly HttpMessageInvoker _http;
    private readonly CancellationTokenSource _disposed = new();

    private GrpcChannel(Uri address, GrpcChannelOptions options)
    {
        Address = address;
        Options = options;
        var handler = new SocketsHttpHandler
        {
            ConnectTimeout = options.ConnectTimeout,
            KeepAlivePingDelay = options.KeepAlivePingDelay,
            KeepAlivePingTimeout = TimeSpan.FromSeconds(20),
            KeepAlivePingPolicy = HttpKeepAlivePingPolicy.WithActiveRequests,
            EnableMultipleHttp2Connections = true,
            PooledConnectionIdleTimeout = Timeout.InfiniteTimeSpan,
            AutomaticDecompression = DecompressionMethods.None,
            UseProxy = false,
        };
        if (address.Scheme == Uri.UriSchemeHttps)
        {
            handler.SslOptions = TlsOptions(options);
        }
        _http = new HttpMessageInvoker(handler, disposeHandler: true);
    }

    public Uri Address { get; }

    public GrpcChannelOptions Options { get; }

    public static GrpcChannel ForAddress(string address, GrpcChannelOptions? options = null)
    {
        if (!Uri.TryCreate(address, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
        {
            throw new ArgumentException($"'{address}' is not a gRPC address; expected http://HOST:PORT (cleartext) or https://HOST:PORT (TLS)");
        }
        return new GrpcChannel(uri, options ?? new GrpcChannelOptions());
    }

    public async Task<TResponse> UnaryAsync<TRequest, TResponse>(Method<TRequest, TResponse> method, TRequest request, CallOptions options = default)
        where TRequest : IMessage<TRequest>, new()
        where TResponse : IMessage<TResponse>, new()
    {
        using var call = new ClientCall<TRequest, TResponse>(this, method, options);
        call.Start(Wire.Frame(CheckSize(request)));
        return await call.ReadSingleAsync().ConfigureAwait(false);
    }

    public AsyncServerStreamingCall<TResponse> ServerStreaming<TRequest, TResponse>(Method<TRequest, TResponse> method, TRequest request,
        CallOptions options = default)
        where TRequest : IMessage<TRequest>, new()
        where TResponse : IMessage<TResponse>, new()
    {
        var call = new ClientCall<TRequest, TResponse>(this, method, options);
        call.Start(Wire.Frame(CheckSize(request)));
        return new AsyncServerStreamingCall<TResponse>(call, call);
    }

    public AsyncClientStreamingCall<TRequest, TResponse> ClientStreaming<TRequest, TResponse>(Method<TRequest, TResponse> method,
        CallOptions options = default)
        where TRequest : IMessage<TRequest>, new()
        where TResponse : IMessage<TResponse>, new()
    {
        var call = new ClientCall<TRequest, TResponse>(this, method, options);
        call.StartStreaming();
        return new AsyncClientStreamingCall<TRequest, TResponse>(call, call, call.ReadSingleAsync);
    }

    public AsyncDuplexStreamingCall<TRequest, TResponse> DuplexStreaming<TRequest, TResponse>(Method<TRequest, TResponse> method,
        CallOptions options = default)
        where TRequest : IMessage<TRequest>, new()
        where TResponse : IMessage<TResponse>, new()
    {
        var call = new ClientCall<TRequest, TResponse>(this, method, options);
        call.StartStreaming();
        return new AsyncDuplexStreamingCall<TRequest, TResponse>(call, call, call);
    }

    internal Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
        _http.SendAsync(request, cancellationToken);

    internal T CheckSize<T>(T message) where T : IMessage
    {
        var size = message.CalculateSize();
        if (size > Options.MaxSendMessageSize)
        {
            throw new RpcException(StatusCode.ResourceExhausted, $"request message of {size} bytes exceeds the channel's limit of {Options.MaxSendMessageSize} bytes");
        }
        return message;
    }

    /// <summary>Cancelled when the channel is disposed: calls still open end (their streams are reset).</summary>
    internal CancellationToken Closing
    {
        get
        {
            ObjectDisposedException.ThrowIf(_disposed.IsCancellationRequested, this);
            return _disposed.Token;
        }
    }

    /// <summary>Ends the calls still open (CANCELLED) and closes the connection.</summary>
    public void Dispose()
    {
        if (_disposed.IsCancellationRequested) return;
        _disposed.Cancel();
        _http.Dispose();
    }

    private static SslClientAuthenticationOptions TlsOptions(GrpcChannelOptions options)
    {
        var tls = new SslClientAuthenticationOptions
        {
            ApplicationProtocols = [SslApplicationProtocol.Http2],
        };
        if (options.ClientCertificate is not null) tls.ClientCertificates = [options.ClientCertificate];
        if (options.TrustedCertificate is { } trusted)
        {
            tls.RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
            {
                if (certificate is null) return false;
                if ((errors & ~SslPolicyErrors.RemoteCertificateChainErrors) != SslPolicyErrors.None) return false;
                using var chain = new X509Chain();
                chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                chain.ChainPolicy.CustomTrustStore.Add(trusted);
                chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
                return chain.Build(new X509Certificate2(certificate));
            };
        }
        return tls;
    }
}
