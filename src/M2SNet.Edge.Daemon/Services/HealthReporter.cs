using Grpc.Health.V1;
using Grpc.HealthCheck;
using M2SNet.Edge.Daemon.Observability;
using M2SNet.Edge.Protocol.V1;
using ServingStatus = Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus;

namespace M2SNet.Edge.Daemon.Services;

/// <summary>
/// Feeds the standard <c>grpc.health.v1.Health</c> service (Grpc.HealthCheck) from the daemon's
/// state: SERVING once the model is loaded, self-tested and warm; NOT_SERVING before that, when it
/// failed, and from the moment the daemon starts stopping. Known services: "" (the daemon) and the
/// Segmentation service; Check of any other is NOT_FOUND, Watch of it says SERVICE_UNKNOWN.
/// </summary>
public sealed class HealthReporter
{
    public static readonly IReadOnlyList<string> Services = ["", Segmentation.Descriptor.FullName];

    private readonly DaemonState _state;
    private readonly HealthServiceImpl _health;
    private readonly Lock _gate = new();
    private bool _stopping;

    public HealthReporter(DaemonState state, HealthServiceImpl health)
    {
        _state = state;
        _health = health;
        state.Updated += Publish;
        Publish();
    }

    public ServingStatus Current => !Volatile.Read(ref _stopping) && _state.Serving ? ServingStatus.Serving : ServingStatus.NotServing;

    /// <summary>The daemon is shutting down: say so before the calls end, so that load balancers and the OR display stop sending.</summary>
    public void Stopping()
    {
        Volatile.Write(ref _stopping, true);
        Publish();
    }

    private void Publish()
    {
        // Serialised, so that two changes in a row cannot publish out of order.
        lock (_gate)
        {
            var now = Current;
            foreach (var service in Services) _health.SetStatus(service, now);
        }
    }
}
