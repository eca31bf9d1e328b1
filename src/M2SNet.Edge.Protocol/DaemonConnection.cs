using System.Net;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Grpc.Health.V1;
using Grpc.Net.Client;
using M2SNet.Edge.Protocol.V1;

namespace M2SNet.Edge.Protocol;

/// <summary>How a client reaches the daemon: message limits, TLS trust and client certificate, keep-alive, extra headers.</summary>
public sealed record DaemonConnectionOptions
{
    /// <summary>Largest response message accepted (RESOURCE_EXHAUSTED beyond it); a 1080p probability map with its JPEG frame fits.</summary>
    public int MaxReceiveMessageSize { get; init; } = 64 * 1024 * 1024;

    /// <summary>Largest request message sent (RESOURCE_EXHAUSTED beyond it, before anything is sent).</summary>
    public int MaxSendMessageSize { get; init; } = 64 * 1024 * 1024;

    /// <summary>For https: the certificate authority (or the self-signed server certificate) to trust instead of the system store.</summary>
    public X509Certificate2? TrustedCertificate { get; init; }

    /// <summary>For https: the certificate this client presents (mutual TLS).</summary>
    public X509Certificate2? ClientCertificate { get; init; }

    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>HTTP/2 PING interval that detects a dead connection while a call is open (an idle mask stream included).</summary>
    public TimeSpan KeepAlivePingDelay { get; init; } = TimeSpan.FromSeconds(20);

    /// <summary>How long a PING may go unanswered before the connection counts as dead and its calls end UNAVAILABLE.</summary>
    public TimeSpan KeepAlivePingTimeout { get; init; } = TimeSpan.FromSeconds(20);

    /// <summary>Headers sent with every call (e.g. <c>authorization: Bearer …</c>).</summary>
    public IReadOnlyDictionary<string, string>? Headers { get; init; }

    /// <summary>Opens the connection's stream instead of a plain TCP connect (a Unix socket, a socket in another network namespace).</summary>
    public Func<SocketsHttpConnectionContext, CancellationToken, ValueTask<Stream>>? ConnectCallback { get; init; }
}

/// <summary>
/// A connection to one daemon (Grpc.Net.Client over one HTTP/2 connection, multiplexing calls)
/// with the generated clients of its services. <c>http://</c> speaks HTTP/2 with prior knowledge
/// (h2c); <c>https://</c> uses TLS with ALPN. Deadlines and cancellation are per call.
/// </summary>
public sealed class DaemonConnection : IDisposable
{
    private DaemonConnection(Uri address, GrpcChannel channel, CallInvoker invoker)
    {
        Address = address;
        Channel = channel;
        Invoker = invoker;
        Segmentation = new Segmentation.SegmentationClient(invoker);
        Health = new Health.HealthClient(invoker);
        Admin = new ModelAdmin.ModelAdminClient(invoker);
    }

    public Uri Address { get; }

    public GrpcChannel Channel { get; }

    /// <summary>The channel with the connection's headers added to every call.</summary>
    public CallInvoker Invoker { get; }

    public Segmentation.SegmentationClient Segmentation { get; }

    public Health.HealthClient Health { get; }

    public ModelAdmin.ModelAdminClient Admin { get; }

    /// <summary>Whether the daemon runs on this machine, so that its monotonic timestamps compare with ours.</summary>
    public bool IsLocal => Address.IsLoopback || (IPAddress.TryParse(Address.Host.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip));

    /// <summary>Opens a connection to <paramref name="address"/> (<c>http://HOST:PORT</c> or <c>https://HOST:PORT</c>); connecting happens at the first call.</summary>
    public static DaemonConnection Open(string address, DaemonConnectionOptions? options = null)
    {
        options ??= new DaemonConnectionOptions();
        if (!Uri.TryCreate(address, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
        {
            throw new ArgumentException($"'{address}' is not a gRPC address; expected http://HOST:PORT (cleartext) or https://HOST:PORT (TLS)");
        }
        var handler = new SocketsHttpHandler
        {
            ConnectTimeout = options.ConnectTimeout,
            KeepAlivePingDelay = options.KeepAlivePingDelay,
            KeepAlivePingTimeout = options.KeepAlivePingTimeout,
            KeepAlivePingPolicy = HttpKeepAlivePingPolicy.WithActiveRequests,
            EnableMultipleHttp2Connections = true,
            PooledConnectionIdleTimeout = Timeout.InfiniteTimeSpan,
            AutomaticDecompression = DecompressionMethods.None,
            UseProxy = false,
            ConnectCallback = options.ConnectCallback,
        };
        if (uri.Scheme == Uri.UriSchemeHttps) handler.SslOptions = TlsOptions(options);
        var channel = GrpcChannel.ForAddress(uri, new GrpcChannelOptions
        {
            HttpHandler = handler,
            DisposeHttpClient = true,
            MaxReceiveMessageSize = options.MaxReceiveMessageSize,
            MaxSendMessageSize = options.MaxSendMessageSize,
        });
        CallInvoker invoker = channel.CreateCallInvoker();
        if (options.Headers is { Count: > 0 } headers)
        {
            invoker = invoker.Intercept(metadata =>
            {
                foreach (var (name, value) in headers) metadata.Add(name, value);
                return metadata;
            });
        }
        return new DaemonConnection(uri, channel, invoker);
    }

    /// <summary>Ends the calls still open (CANCELLED) and closes the connection.</summary>
    public void Dispose() => Channel.Dispose();

    private static SslClientAuthenticationOptions TlsOptions(DaemonConnectionOptions options)
    {
        var tls = new SslClientAuthenticationOptions { ApplicationProtocols = [SslApplicationProtocol.Http2] };
        if (options.ClientCertificate is not null) tls.ClientCertificates = [options.ClientCertificate];
        if (options.TrustedCertificate is { } trusted) tls.RemoteCertificateValidationCallback = Trusting(trusted);
        return tls;
    }

    /// <summary>
    /// Accepts a server certificate that chains to <paramref name="ca"/> (and names the host), instead
    /// of the system's store: how a client trusts a site's own CA. Any HttpClient can use it too.
    /// </summary>
    public static RemoteCertificateValidationCallback Trusting(X509Certificate2 ca) => (_, certificate, _, errors) =>
    {
        if (certificate is null) return false;
        if ((errors & ~SslPolicyErrors.RemoteCertificateChainErrors) != SslPolicyErrors.None) return false;
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(ca);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        return chain.Build(X509CertificateLoader.LoadCertificate(certificate.GetRawCertData()));
    };
}
