using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using M2SNet.Edge.Daemon.Configuration;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;

namespace M2SNet.Edge.Daemon.Services;

/// <summary>The facts of a call that decide whether it may go on: where it came from, over what, with which credentials.</summary>
public readonly record struct NetworkCaller(IPAddress? RemoteAddress, bool Tls, bool ClientCertificate, string? Authorization)
{
    /// <summary>No address: an in-process or Unix-socket connection, which is local as well.</summary>
    public bool Local => RemoteAddress is null || IPAddress.IsLoopback(RemoteAddress);

    public static NetworkCaller Of(HttpContext http, string? authorization) =>
        new(http.Connection.RemoteIpAddress is { IsIPv4MappedToIPv6: true } mapped ? mapped.MapToIPv4() : http.Connection.RemoteIpAddress,
            http.Request.IsHttps, http.Connection.ClientCertificate is not null, authorization);

    public static NetworkCaller Of(ServerCallContext context) => Of(context.GetHttpContext(), context.RequestHeaders.GetValue("authorization"));
}

/// <summary>
/// The one rule for callers off this machine: loopback needs nothing; anyone else comes over TLS
/// and presents a client certificate the appliance verified (Kestrel checks it against
/// Daemon:Tls:ClientCaPath during the handshake) or one of the accepted bearer tokens.
/// </summary>
public abstract class NetworkAccess
{
    private readonly byte[][] _tokens;

    protected NetworkAccess(params string?[] tokenFiles)
    {
        _tokens = [.. tokenFiles.Where(f => !string.IsNullOrWhiteSpace(f)).Select(f => Encoding.UTF8.GetBytes(File.ReadAllText(f!).Trim()))];
    }

    /// <summary>What the caller is refused, for the status text ("model administration", "frames and masks").</summary>
    protected abstract string What { get; }

    protected bool HasToken => _tokens.Length > 0;

    /// <summary>Returns when the caller may go on; throws PERMISSION_DENIED (no TLS) or UNAUTHENTICATED (no or wrong credentials) with the reason.</summary>
    public void Check(NetworkCaller caller)
    {
        if (!TryCheck(caller, out var refusal)) throw new RpcException(refusal);
    }

    /// <summary>Whether the caller may go on; if not, the status it is refused with.</summary>
    public virtual bool TryCheck(NetworkCaller caller, out Status refusal)
    {
        refusal = Status.DefaultSuccess;
        if (caller.Local) return true;
        if (!caller.Tls)
        {
            refusal = new Status(StatusCode.PermissionDenied,
                $"{What} from the network need TLS (an https:// endpoint) with a client certificate or a bearer token; this call came in plain text from {caller.RemoteAddress}");
            return false;
        }
        if (caller.ClientCertificate) return true;
        if (caller.Authorization is { } header && header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            if (IsToken(header["Bearer ".Length..])) return true;
            refusal = new Status(StatusCode.Unauthenticated, $"the bearer token is not one this appliance accepts for {What}");
            return false;
        }
        refusal = new Status(StatusCode.Unauthenticated,
            HasToken ? $"{What} from the network need a client certificate or 'authorization: Bearer <token>'"
                : $"{What} from the network need a client certificate (no token is configured)");
        return false;
    }

    public void Check(ServerCallContext context) => Check(NetworkCaller.Of(context));

    /// <summary>Whether <paramref name="presented"/> is one of the accepted tokens (compared in constant time).</summary>
    public bool IsToken(string presented)
    {
        var bytes = Encoding.UTF8.GetBytes(presented.Trim());
        var match = false;
        foreach (var token in _tokens) match |= CryptographicOperations.FixedTimeEquals(bytes, token);
        return match;
    }
}

/// <summary>
/// Who may change the model: anyone on the appliance itself; from the network only over TLS with a
/// verified client certificate or the token in Daemon:Admin:TokenFile.
/// </summary>
public sealed class AdminAccess(IOptions<DaemonOptions> options) : NetworkAccess(options.Value.Admin.TokenFile)
{
    private readonly bool _enabled = options.Value.Admin.Enabled;

    protected override string What => "model administration calls";

    public override bool TryCheck(NetworkCaller caller, out Status refusal)
    {
        if (_enabled) return base.TryCheck(caller, out refusal);
        refusal = new Status(StatusCode.PermissionDenied, "model administration is switched off on this appliance (Daemon:Admin:Enabled)");
        return false;
    }
}

/// <summary>
/// Who may receive patient video and masks (StreamMasks, Segment, the web view): anyone on the
/// appliance itself; from the network only over TLS with a verified client certificate or a token
/// (Daemon:Video:TokenFile, or the admin token). A browser logs in once with the token and then
/// carries a session cookie (<see cref="StartSession"/>).
/// </summary>
public sealed class VideoAccess : NetworkAccess
{
    public const string CookieName = "m2s_view";

    /// <summary>Methods that carry frames or masks; the others (GetInfo, health) tell nothing about a patient.</summary>
    private static readonly HashSet<string> s_videoMethods = ["/m2snet.edge.v1.Segmentation/StreamMasks", "/m2snet.edge.v1.Segmentation/Segment"];

    /// <summary>Wrong tokens an address may send within <see cref="FailureWindow"/> before its logins are refused.</summary>
    public const int MaxFailures = 5;

    /// <summary>Addresses with recent wrong tokens remembered at once; past it, logins with wrong tokens from new addresses wait.</summary>
    public const int MaxFailingAddresses = 4096;

    public static readonly TimeSpan FailureWindow = TimeSpan.FromMinutes(1);

    private readonly ConcurrentDictionary<string, DateTimeOffset> _sessions = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<IPAddress, (int Failures, DateTimeOffset Since)> _failures = new();
    private readonly TimeSpan _sessionLifetime;
    private readonly int _maxSessions;
    private readonly TimeProvider _time;

    public VideoAccess(IOptions<DaemonOptions> options, TimeProvider? time = null)
        : base(options.Value.Video.TokenFile, options.Value.Admin.TokenFile)
    {
        _sessionLifetime = TimeSpan.FromHours(options.Value.Video.SessionHours);
        _maxSessions = options.Value.Video.MaxSessions;
        _time = time ?? TimeProvider.System;
    }

    protected override string What => "frames and masks";

    public static bool CarriesVideo(string method) => s_videoMethods.Contains(method);

    /// <summary>The web view: whether this request may see video, by address, TLS, client certificate or session cookie.</summary>
    public bool Allows(HttpContext http, out string refusal)
    {
        refusal = "";
        var caller = NetworkCaller.Of(http, http.Request.Headers.Authorization.ToString() is { Length: > 0 } a ? a : null);
        if (caller.Local) return true;
        if (!caller.Tls)
        {
            refusal = $"the web view is served to the network only over https (this request came in plain text from {caller.RemoteAddress})";
            return false;
        }
        if (caller.ClientCertificate || HasSession(http.Request.Cookies[CookieName])) return true;
        if (TryCheck(caller, out var status)) return true;
        refusal = status.Detail;
        return false;
    }

    /// <summary>
    /// A login with <paramref name="token"/> from <paramref name="peer"/>: a new session id for the
    /// cookie, or null (wrong token, or too many failures from this address: 5 a minute).
    /// </summary>
    public string? StartSession(IPAddress? peer, string token, out string refusal)
    {
        var now = _time.GetUtcNow();
        var key = peer ?? IPAddress.None;
        if (_failures.TryGetValue(key, out var f) && now - f.Since < FailureWindow && f.Failures >= MaxFailures)
        {
            refusal = "too many wrong tokens from this address; wait a minute";
            return null;
        }
        if (!HasToken || !IsToken(token))
        {
            // Addresses whose minute is over are forgotten; an address that keeps guessing stays counted.
            foreach (var (address, old) in _failures)
            {
                if (now - old.Since >= FailureWindow) _failures.TryRemove(address, out _);
            }
            if (_failures.Count >= MaxFailingAddresses && !_failures.ContainsKey(key))
            {
                refusal = "too many wrong tokens from the network just now; wait a minute";
                return null;
            }
            _failures.AddOrUpdate(key, (1, now), (_, old) => now - old.Since < FailureWindow ? (old.Failures + 1, old.Since) : (1, now));
            refusal = HasToken ? "that is not the appliance's video token" : "no video token is configured on this appliance (Daemon:Video:TokenFile); use a client certificate";
            return null;
        }
        _failures.TryRemove(key, out _);
        foreach (var (id, expires) in _sessions)
        {
            if (expires <= now) _sessions.TryRemove(id, out _);
        }
        // Bounded: the oldest sessions give way (their browsers log in again).
        while (_sessions.Count >= _maxSessions && _sessions.OrderBy(s => s.Value).FirstOrDefault() is { Key: { } oldest }) _sessions.TryRemove(oldest, out _);
        var session = Deployment.SitePki.NewToken();
        _sessions[session] = now + _sessionLifetime;
        refusal = "";
        return session;
    }

    public TimeSpan SessionLifetime => _sessionLifetime;

    /// <summary>Addresses remembered for wrong tokens within the last <see cref="FailureWindow"/>.</summary>
    public int AddressesWithRecentFailures => _failures.Count;

    private bool HasSession(string? id) => id is { Length: > 0 } && _sessions.TryGetValue(id, out var expires) && expires > _time.GetUtcNow();
}

/// <summary>
/// Puts a <see cref="NetworkAccess"/> check in front of the methods of the service it is attached
/// to: a refused call ends with its status before the handler runs or any request byte is read.
/// </summary>
public abstract class AccessInterceptor : Interceptor
{
    protected abstract void Check(ServerCallContext context);

    public override Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context,
        UnaryServerMethod<TRequest, TResponse> continuation)
    {
        Check(context);
        return continuation(request, context);
    }

    public override Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream,
        ServerCallContext context, ClientStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Check(context);
        return continuation(requestStream, context);
    }

    public override Task ServerStreamingServerHandler<TRequest, TResponse>(TRequest request, IServerStreamWriter<TResponse> responseStream,
        ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Check(context);
        return continuation(request, responseStream, context);
    }

    public override Task DuplexStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream,
        IServerStreamWriter<TResponse> responseStream, ServerCallContext context, DuplexStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Check(context);
        return continuation(requestStream, responseStream, context);
    }
}

/// <summary>Every ModelAdmin call (DaemonHost attaches it to that service).</summary>
public sealed class AdminAccessInterceptor(AdminAccess access) : AccessInterceptor
{
    protected override void Check(ServerCallContext context) => access.Check(context);
}

/// <summary>The Segmentation calls that carry frames or masks (StreamMasks, Segment); GetInfo stays open.</summary>
public sealed class VideoAccessInterceptor(VideoAccess access) : AccessInterceptor
{
    protected override void Check(ServerCallContext context)
    {
        if (VideoAccess.CarriesVideo(context.Method)) access.Check(context);
    }
}
