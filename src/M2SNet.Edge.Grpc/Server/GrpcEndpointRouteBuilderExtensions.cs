using Google.Protobuf;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace M2SNet.Edge.Grpc.Server;

/// <summary>Maps gRPC methods onto ASP.NET Core endpoints: POST <c>/package.Service/Method</c>.</summary>
public static class GrpcEndpointRouteBuilderExtensions
{
    public static IEndpointConventionBuilder MapGrpcUnary<TRequest, TResponse>(this IEndpointRouteBuilder endpoints,
        Method<TRequest, TResponse> method, UnaryServerMethod<TRequest, TResponse> handler)
        where TRequest : IMessage<TRequest>, new()
        where TResponse : IMessage<TResponse>, new()
    {
        var call = Handler(endpoints, method, MethodType.Unary);
        return endpoints.MapPost(method.FullName, http => call.HandleUnary(http, handler));
    }

    public static IEndpointConventionBuilder MapGrpcServerStreaming<TRequest, TResponse>(this IEndpointRouteBuilder endpoints,
        Method<TRequest, TResponse> method, ServerStreamingServerMethod<TRequest, TResponse> handler)
        where TRequest : IMessage<TRequest>, new()
        where TResponse : IMessage<TResponse>, new()
    {
        var call = Handler(endpoints, method, MethodType.ServerStreaming);
        return endpoints.MapPost(method.FullName, http => call.HandleServerStreaming(http, handler));
    }

    public static IEndpointConventionBuilder MapGrpcClientStreaming<TRequest, TResponse>(this IEndpointRouteBuilder endpoints,
        Method<TRequest, TResponse> method, ClientStreamingServerMethod<TRequest, TResponse> handler)
        where TRequest : IMessage<TRequest>, new()
        where TResponse : IMessage<TResponse>, new()
    {
        var call = Handler(endpoints, method, MethodType.ClientStreaming);
        return endpoints.MapPost(method.FullName, http => call.HandleClientStreaming(http, handler));
    }

    public static IEndpointConventionBuilder MapGrpcDuplexStreaming<TRequest, TResponse>(this IEndpointRouteBuilder endpoints,
        Method<TRequest, TResponse> method, DuplexStreamingServerMethod<TRequest, TResponse> handler)
        where TRequest : IMessage<TRequest>, new()
        where TResponse : IMessage<TResponse>, new()
    {
        var call = Handler(endpoints, method, MethodType.DuplexStreaming);
        return endpoints.MapPost(method.FullName, http => call.HandleDuplexStreaming(http, handler));
    }

    /// <summary>Any other <c>/Service/Method</c> called with gRPC gets UNIMPLEMENTED, as gRPC servers answer.</summary>
    public static IEndpointConventionBuilder MapGrpcUnimplemented(this IEndpointRouteBuilder endpoints) =>
        endpoints.MapPost("/{service}/{method}", (HttpContext http, string service, string method) =>
        {
            if (!Wire.IsGrpcContentType(http.Request.ContentType))
            {
                http.Response.StatusCode = StatusCodes.Status404NotFound;
                return Task.CompletedTask;
            }
            http.Response.ContentType = Wire.ContentType;
            http.Response.Headers[Wire.StatusHeader] = ((int)StatusCode.Unimplemented).ToString(System.Globalization.CultureInfo.InvariantCulture);
            http.Response.Headers[Wire.MessageHeader] = Wire.EncodeMessage($"the server does not implement {service}/{method}");
            return Task.CompletedTask;
        });

    private static ServerCallHandler<TRequest, TResponse> Handler<TRequest, TResponse>(IEndpointRouteBuilder endpoints,
        Method<TRequest, TResponse> method, MethodType expected)
        where TRequest : IMessage<TRequest>, new()
        where TResponse : IMessage<TResponse>, new()
    {
        if (method.Type != expected) throw new ArgumentException($"{method} is a {method.Type} method, not {expected}");
        var options = endpoints.ServiceProvider.GetService<IOptions<GrpcServerOptions>>()?.Value ?? new GrpcServerOptions();
        var logger = endpoints.ServiceProvider.GetService<ILoggerFactory>()?.CreateLogger("M2SNet.Edge.Grpc") ?? NullLogger.Instance;
        return new ServerCallHandler<TRequest, TResponse>(method, options, logger);
    }
}
