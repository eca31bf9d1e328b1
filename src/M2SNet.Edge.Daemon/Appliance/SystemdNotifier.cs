using System.Globalization;
using System.Net.Sockets;
using System.Text;
using M2SNet.Edge.Daemon.Observability;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace M2SNet.Edge.Daemon.Appliance;

/// <summary>
/// The sd_notify protocol: one datagram per state, "KEY=value" lines, to the Unix socket systemd
/// names in $NOTIFY_SOCKET (a leading '@' means the abstract namespace). Sending never fails the
/// caller: without systemd there is simply no socket.
/// </summary>
public sealed class SdNotify : IDisposable
{
    private readonly Socket? _socket;
    private readonly UnixDomainSocketEndPoint? _endpoint;

    public SdNotify(string? socketPath)
    {
        if (string.IsNullOrWhiteSpace(socketPath)) return;
        var path = socketPath[0] == '@' ? "\0" + socketPath[1..] : socketPath;
        _endpoint = new UnixDomainSocketEndPoint(path);
        _socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
    }

    public bool Enabled => _socket is not null;

    /// <returns>False when there is no socket or the datagram could not be sent.</returns>
    public bool Send(string state)
    {
        if (_socket is null) return false;
        try
        {
            _socket.SendTo(Encoding.UTF8.GetBytes(state), SocketFlags.None, _endpoint!);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    public void Dispose() => _socket?.Dispose();
}

/// <summary>
/// Tells systemd the daemon's state (Type=notify): READY=1 once the model is warm, STATUS= lines,
/// and WATCHDOG=1 only while frames flow, so that a stalled pipeline stops the pings and
/// systemd restarts the service (WatchdogSec=). STOPPING=1 at shutdown.
/// </summary>
public sealed class SystemdNotifier(DaemonState state, PipelineMetrics metrics, SystemdOptions options, ILogger<SystemdNotifier> log) : BackgroundService
{
    private SdNotify? _notify;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        _notify = new SdNotify(options.NotifySocket);
        if (!_notify.Enabled) return;
        var interval = options.WatchdogInterval;
        log.LogInformation("systemd notification socket {Socket}; watchdog {Watchdog}", options.NotifySocket,
            interval is { } i ? $"every {i.TotalSeconds:0.###} s while frames flow" : "off");

        var ready = false;
        long lastFrames = -1;
        var lastProgress = DateTime.UtcNow;
        var tick = interval is { } w ? w / 2 : TimeSpan.FromSeconds(1);
        while (!stoppingToken.IsCancellationRequested)
        {
            if (!ready && state.Readiness == Readiness.Ready)
            {
                ready = true;
                _notify.Send("READY=1\nSTATUS=model warm; waiting for frames");
            }
            else if (!ready && state.Readiness == Readiness.Failed)
            {
                // Ready in the systemd sense (it answers health checks and says why it does not stream).
                ready = true;
                _notify.Send($"READY=1\nSTATUS=NOT SERVING: {state.Reason}");
            }

            var frames = metrics.FramesSegmented;
            if (frames != lastFrames)
            {
                lastFrames = frames;
                lastProgress = DateTime.UtcNow;
            }
            // Frames within the last interval: the pipeline is alive.
            var flowing = ready && state.Readiness == Readiness.Ready && frames > 0 && DateTime.UtcNow - lastProgress < (interval ?? TimeSpan.FromSeconds(2));
            if (interval is not null && ready && state.Readiness == Readiness.Failed)
            {
                // Alive and saying why it does not stream: a restart would not fix the model, so no restart loop.
                _notify.Send($"WATCHDOG=1\nSTATUS=NOT SERVING: {state.Reason}");
            }
            else if (interval is not null && flowing)
            {
                _notify.Send(string.Create(CultureInfo.InvariantCulture, $"WATCHDOG=1\nSTATUS=streaming {metrics.Fps:F1} fps, {frames} frames"));
            }
            else if (ready && !flowing && state.Readiness == Readiness.Ready && frames > 0)
            {
                _notify.Send($"STATUS=stalled: no frame for {(DateTime.UtcNow - lastProgress).TotalSeconds:F0} s (source {state.SourceState}: {state.SourceDetail})");
            }
            try
            {
                await Task.WhenAny(Task.Delay(tick, stoppingToken), state.Changed).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        _notify?.Send("STOPPING=1");
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        _notify?.Dispose();
    }
}

/// <summary>Where systemd listens and how often it wants to hear from us (from $NOTIFY_SOCKET and $WATCHDOG_USEC).</summary>
public sealed record SystemdOptions(string? NotifySocket, TimeSpan? WatchdogInterval)
{
    public static SystemdOptions FromEnvironment(Func<string, string?> environment)
    {
        var socket = environment("NOTIFY_SOCKET");
        TimeSpan? watchdog = null;
        if (long.TryParse(environment("WATCHDOG_USEC"), NumberStyles.None, CultureInfo.InvariantCulture, out var usec) && usec > 0)
        {
            // WATCHDOG_PID, when set, names the process the pings are for.
            var pid = environment("WATCHDOG_PID");
            if (string.IsNullOrEmpty(pid) || pid == Environment.ProcessId.ToString(CultureInfo.InvariantCulture)) watchdog = TimeSpan.FromMicroseconds(usec);
        }
        return new SystemdOptions(socket, watchdog);
    }
}
