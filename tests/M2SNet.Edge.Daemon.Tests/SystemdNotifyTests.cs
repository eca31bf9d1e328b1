using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using M2SNet.Edge.Daemon.Appliance;

namespace M2SNet.Edge.Daemon.Tests;

/// <summary>sd_notify as systemd sees it: a datagram socket the daemon writes its states to.</summary>
public sealed class SystemdNotifyTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>A stand-in for systemd's notification socket, collecting every datagram with its arrival time.</summary>
    private sealed class NotifySocket : IDisposable
    {
        private readonly Socket _socket = new(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        private readonly List<(TimeSpan At, string Text)> _messages = [];
        private readonly Stopwatch _clock = Stopwatch.StartNew();
        private readonly Task _reader;

        public NotifySocket()
        {
            Path = System.IO.Path.Combine(Directory.CreateTempSubdirectory("m2s-notify-").FullName, "notify.sock");
            _socket.Bind(new UnixDomainSocketEndPoint(Path));
            _reader = Task.Run(async () =>
            {
                var buffer = new byte[4096];
                while (true)
                {
                    int n;
                    try
                    {
                        n = await _socket.ReceiveAsync(buffer, SocketFlags.None);
                    }
                    catch (Exception e) when (e is SocketException or ObjectDisposedException)
                    {
                        return;
                    }
                    lock (_messages) _messages.Add((_clock.Elapsed, Encoding.UTF8.GetString(buffer, 0, n)));
                }
            });
        }

        public string Path { get; }

        public TimeSpan Now => _clock.Elapsed;

        public List<(TimeSpan At, string Text)> Messages
        {
            get
            {
                lock (_messages) return [.. _messages];
            }
        }

        /// <summary>The <paramref name="occurrence"/>-th matching notification, once it has arrived.</summary>
        public async Task<(TimeSpan At, string Text)> WaitForAsync(Func<string, bool> match, TimeSpan timeout, int occurrence = 1)
        {
            var until = Now + timeout;
            while (Now < until)
            {
                var found = Messages.Where(m => match(m.Text)).Skip(occurrence - 1).FirstOrDefault();
                if (found.Text is not null) return found;
                await Task.Delay(50, Ct);
            }
            throw new TimeoutException($"no matching notification; got: {string.Join(" | ", Messages.Select(m => m.Text))}");
        }

        public void Dispose() => _socket.Dispose();
    }

    [Fact]
    public async Task Ready_after_warm_up_watchdog_pings_while_frames_flow_and_none_once_they_stop()
    {
        using var systemd = new NotifySocket();
        await using var daemon = await TestDaemon.StartAsync(new Dictionary<string, string?>
        {
            ["Daemon:Systemd:NotifySocket"] = systemd.Path,
            ["Daemon:Systemd:WatchdogSeconds"] = "0.5",
            // The clip plays once and ends: frames flow for 4 s, then the pipeline has nothing to do.
            ["Daemon:Source:Loop"] = "false",
        });
        var ready = await systemd.WaitForAsync(t => t.StartsWith("READY=1", StringComparison.Ordinal), TimeSpan.FromSeconds(30));
        await systemd.WaitForAsync(t => t.StartsWith("WATCHDOG=1", StringComparison.Ordinal), TimeSpan.FromSeconds(10));
        var pings = systemd.Messages.Where(m => m.Text.StartsWith("WATCHDOG=1", StringComparison.Ordinal)).ToList();
        Assert.All(pings, p => Assert.True(p.At >= ready.At, "a watchdog ping came before READY=1"));

        // After the clip ends (4 s), the pings stop and the status says the pipeline is stalled.
        var stalled = await systemd.WaitForAsync(t => t.Contains("STATUS=stalled", StringComparison.Ordinal), TimeSpan.FromSeconds(20));
        var lastPing = systemd.Messages.Last(m => m.Text.StartsWith("WATCHDOG=1", StringComparison.Ordinal)).At;
        await Task.Delay(1500, Ct);
        Assert.DoesNotContain(systemd.Messages, m => m.Text.StartsWith("WATCHDOG=1", StringComparison.Ordinal) && m.At > lastPing);
        // Every ping came while frames flowed: after READY=1 and before the stall was announced. (How
        // regular they are is a matter of the machine's load, not of this rule.)
        Assert.True(stalled.At >= lastPing);
    }

    [Fact]
    public async Task A_daemon_without_a_usable_model_is_ready_for_systemd_says_why_and_is_not_restarted_in_a_loop()
    {
        using var systemd = new NotifySocket();
        await using var daemon = await TestDaemon.StartAsync(new Dictionary<string, string?>
        {
            ["Daemon:Systemd:NotifySocket"] = systemd.Path,
            ["Daemon:Systemd:WatchdogSeconds"] = "0.5",
            ["Daemon:Model:Path"] = "/nonexistent/model.onnx",
        }, waitUntilServing: false);
        var ready = await systemd.WaitForAsync(t => t.StartsWith("READY=1", StringComparison.Ordinal), TimeSpan.FromSeconds(30));
        Assert.Contains("NOT SERVING: model file not found", ready.Text);
        // It keeps pinging (so systemd does not restart it in a loop): wait for a second ping, however late.
        var second = await systemd.WaitForAsync(t => t.StartsWith("WATCHDOG=1", StringComparison.Ordinal), TimeSpan.FromSeconds(60), occurrence: 2);
        Assert.True(second.At > ready.At);
    }

    [Theory]
    [InlineData(null, null, null, false)]
    [InlineData("/run/systemd/notify", "10000000", null, true)]
    [InlineData("@/org/freedesktop/systemd1/notify", "10000000", "1", false)] // pings meant for another process
    public void Settings_come_from_the_environment_systemd_sets(string? socket, string? usec, string? pid, bool watchdog)
    {
        var o = SystemdOptions.FromEnvironment(name => name switch
        {
            "NOTIFY_SOCKET" => socket,
            "WATCHDOG_USEC" => usec,
            "WATCHDOG_PID" => pid,
            _ => null,
        });
        Assert.Equal(socket, o.NotifySocket);
        Assert.Equal(watchdog ? TimeSpan.FromSeconds(10) : null, o.WatchdogInterval);
    }
}
