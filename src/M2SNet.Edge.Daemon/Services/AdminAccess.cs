using System.Net;
using System.Security.Cryptography;
using M2SNet.Edge.Daemon.Configuration;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Microsoft.Extensions.Options;

namespace M2SNet.Edge.Daemon.Services;

/// <summary>The facts of a call that decide whether it may administer models.</summary>
public readonly record struct AdminCaller(IPAddress? RemoteAddress, bool Tls, bool ClientCertificate, string? Authorization);

/// <summary>
/// Who may change the model: anyone on the appliance itself (loopback); from the network only over
/// TLS, and only with a client certificate the appliance verified (Daemon:Tls:ClientCaPath) or the
/// bearer token from Daemon:Admin:TokenFile. The streaming service may be open on the OR network;
/// this one never is without credentials.
/// </summary>
public sealed class AdminAccess
{
    private readonly bool _enabled;
    private readonly byte[]? _token;

    public AdminAccess(IOptions<DaemonOptions> options)
    {
        _enabled = options.Value.Admin.Enabled;
        var file = options.Value.Admin.TokenFile;
        _token = string.IsNullOrWhiteSpace(file) ? null : System.Text.Encoding.UTF8.GetBytes(File.ReadAllText(file).Trim());
    }

    public void Check(ServerCallContext context)
    {
        var http = context.GetHttpContext();
        Check(new AdminCaller(http.Connection.RemoteIpAddress, http.Request.IsHttps, http.Connection.ClientCertificate is not null,
            context.RequestHeaders.GetValue("authorization")));
    }

    /// <summary>Returns when the caller may administer models; throws UNAUTHENTICATED or PERMISSION_DENIED with the reason otherwise.</summary>
    public void Check(AdminCaller caller)
    {
        if (!_enabled) throw new RpcException(new Status(StatusCode.PermissionDenied, "model administration is switched off on this appliance (Daemon:Admin:Enabled)"));
        // No address: an in-process or Unix-socket connection, which is local as well.
        if (caller.RemoteAddress is null || IPAddress.IsLoopback(caller.RemoteAddress)) return;
        if (!caller.Tls)
        {
            throw new RpcException(new Status(StatusCode.PermissionDenied,
                "model administration from the network needs TLS (an https:// endpoint) with a client certificate or a bearer token; this call came over plain HTTP/2"));
        }
        if (caller.ClientCertificate) return;
        if (_token is not null && caller.Authorization is { } header && header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            var presented = System.Text.Encoding.UTF8.GetBytes(header["Bearer ".Length..].Trim());
            if (CryptographicOperations.FixedTimeEquals(presented, _token)) return;
            throw new RpcException(new Status(StatusCode.Unauthenticated, "the bearer token is not the appliance's admin token"));
        }
        throw new RpcException(new Status(StatusCode.Unauthenticated,
            _token is null ? "model administration from the network needs a client certificate (no admin token is configured)"
                : "model administration from the network needs a client certificate or 'authorization: Bearer <token>'"));
    }
}

/// <summary>
/// Puts <see cref="AdminAccess"/> in front of every method of the service it is attached to
/// (ModelAdmin, in DaemonHost): a refused call ends with its status before the handler runs or
/// any upload byte is read.
/// </summary>
public sealed class AdminAccessInterceptor(AdminAccess access) : Interceptor
{
    public override Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context,
        UnaryServerMethod<TRequest, TResponse> continuation)
    {
        access.Check(context);
        return continuation(request, context);
    }

    public override Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream,
        ServerCallContext context, ClientStreamingServerMethod<TRequest, TResponse> continuation)
    {
        access.Check(context);
        return continuation(requestStream, context);
    }

    public override Task ServerStreamingServerHandler<TRequest, TResponse>(TRequest request, IServerStreamWriter<TResponse> responseStream,
        ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        access.Check(context);
        return continuation(request, responseStream, context);
    }

    public override Task DuplexStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream,
        IServerStreamWriter<TResponse> responseStream, ServerCallContext context, DuplexStreamingServerMethod<TRequest, TResponse> continuation)
    {
        access.Check(context);
        return continuation(requestStream, responseStream, context);
    }
}
