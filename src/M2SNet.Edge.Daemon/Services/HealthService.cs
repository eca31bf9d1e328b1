using Grpc.Health.V1;
using M2SNet.Edge.Daemon.Observability;
using M2SNet.Edge.Grpc;
using M2SNet.Edge.Grpc.Server;
using M2SNet.Edge.Protocol;
using Microsoft.AspNetCore.Routing;
using ServingStatus = Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus;

namespace M2SNet.Edge.Daemon.Services;

/// <summary>
/// <c>grpc.health.v1.Health</c>: SERVING once the model is loaded, self-tested and warm;
/// NOT_SERVING before that or when it failed. Known services: "" (the daemon) and the Segmentation service.
/// </summary>
public sealed class HealthService(DaemonState state)
{
    private static readonly string[] s_services = ["", SegmentationApi.ServiceName];

    public void MapTo(IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGrpcUnary(HealthApi.Check, Check);
        endpoints.MapGrpcServerStreaming(HealthApi.Watch, Watch);
    }

    public ServingStatus Current => state.Readiness == Readiness.Ready ? ServingStatus.Serving : ServingStatus.NotServing;

    public Task<HealthCheckResponse> Check(HealthCheckRequest request, ServerCallContext context)
    {
        if (!s_services.Contains(request.Service))
        {
            throw new RpcException(StatusCode.NotFound, $"unknown service '{request.Service}'");
        }
        return Task.FromResult(new HealthCheckResponse { Status = Current });
    }

    public async Task Watch(HealthCheckRequest request, IServerStreamWriter<HealthCheckResponse> responses, ServerCallContext context)
    {
        if (!s_services.Contains(request.Service))
        {
            // Watch reports unknown services as a status and keeps the call open (they may appear).
            await responses.WriteAsync(new HealthCheckResponse { Status = ServingStatus.ServiceUnknown }, context.CancellationToken).ConfigureAwait(false);
            await Task.Delay(Timeout.Infinite, context.CancellationToken).ConfigureAwait(false);
            return;
        }
        ServingStatus? last = null;
        while (true)
        {
            var changed = state.Changed;
            var now = Current;
            if (now != last)
            {
                await responses.WriteAsync(new HealthCheckResponse { Status = now }, context.CancellationToken).ConfigureAwait(false);
                last = now;
            }
            await changed.WaitAsync(context.CancellationToken).ConfigureAwait(false);
        }
    }
}
