using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace M2SNet.Edge.TestSupport;

/// <summary>
/// Another host on this machine, for tests that must reach a server from an address that is not
/// loopback: a network namespace of its own joined to this one by a veth pair, with addresses from
/// 198.18.0.0/15 (set aside for benchmarking networks, RFC 2544) that exist only on the two ends.
/// Nothing leaves the machine. Sockets are opened inside the namespace by a thread that enters it
/// for that moment (<see cref="Connect"/>), so a test's own HttpClient or gRPC channel can use them;
/// a program is run there with <see cref="Command"/>. Needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN).
/// </summary>
public sealed partial class NetworkNamespace : IDisposable
{
    private const int CloneNewNet = 0x40000000;
    private static int s_count;

    private NetworkNamespace(string name, string hostInterface, IPAddress hostAddress, IPAddress peerAddress)
    {
        Name = name;
        HostInterface = hostInterface;
        HostAddress = hostAddress;
        PeerAddress = peerAddress;
    }

    /// <summary>The namespace's name under /run/netns.</summary>
    public string Name { get; }

    /// <summary>This machine's end of the link: listen here to be reached from the namespace.</summary>
    public IPAddress HostAddress { get; }

    /// <summary>The namespace's own address: what a server here sees as the caller.</summary>
    public IPAddress PeerAddress { get; }

    private string HostInterface { get; }

    /// <summary>A new namespace and link, or null with the reason where this machine does not allow it.</summary>
    public static NetworkNamespace? TryCreate(out string whyNot)
    {
        whyNot = "";
        if (!OperatingSystem.IsLinux()) return Fail("network namespaces are Linux's", out whyNot);
        if (Environment.UserName != "root" && Environment.GetEnvironmentVariable("USER") != "root") return Fail("creating a network namespace needs root", out whyNot);
        // One /24 of 198.18.0.0/15 per namespace, chosen from the process id so that test processes side by side do not meet.
        var n = Interlocked.Increment(ref s_count);
        var subnet = (Environment.ProcessId * 7 + n) % 250 + 1;
        // Interface names fit Linux's 15 characters: 4 + at most 5 + 1 + the count's digits.
        var tag = $"{Environment.ProcessId % 100000}x{n}";
        var ns = new NetworkNamespace($"m2s-test-{tag}", $"m2sh{tag}", IPAddress.Parse($"198.18.{subnet}.1"), IPAddress.Parse($"198.18.{subnet}.2"));
        var peer = $"m2sp{tag}";
        string[][] steps =
        [
            ["netns", "add", ns.Name],
            ["link", "add", ns.HostInterface, "type", "veth", "peer", "name", peer],
            // No IPv6 addresses of their own: the kernel would add link-local ones a moment after the
            // links come up, and a browser beside the test sees that as the network changing.
            ["link", "set", ns.HostInterface, "addrgenmode", "none"],
            ["link", "set", peer, "addrgenmode", "none"],
            ["link", "set", peer, "netns", ns.Name],
            ["addr", "add", $"{ns.HostAddress}/24", "dev", ns.HostInterface],
            ["link", "set", ns.HostInterface, "up"],
            ["-n", ns.Name, "addr", "add", $"{ns.PeerAddress}/24", "dev", peer],
            ["-n", ns.Name, "link", "set", peer, "up"],
            ["-n", ns.Name, "link", "set", "lo", "up"],
        ];
        foreach (var step in steps)
        {
            var (code, output) = Ip(step);
            if (code != 0)
            {
                ns.Dispose();
                return Fail($"ip {string.Join(' ', step)}: exit {code}: {output.Trim()}", out whyNot);
            }
        }
        return ns;
    }

    /// <summary>A TCP connection to <paramref name="endpoint"/> made from inside the namespace.</summary>
    public async ValueTask<Stream> Connect(DnsEndPoint endpoint, CancellationToken cancellationToken)
    {
        var socket = OpenSocket();
        try
        {
            await socket.ConnectAsync(IPAddress.Parse(endpoint.Host), endpoint.Port, cancellationToken).ConfigureAwait(false);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>A handler whose connections start in the namespace (for an HttpClient).</summary>
    public SocketsHttpHandler Handler() => new() { ConnectCallback = (context, ct) => Connect(context.DnsEndPoint, ct), UseProxy = false };

    /// <summary>Runs <paramref name="program"/> inside the namespace (ip netns exec).</summary>
    public ProcessStartInfo Command(string program, params string[] arguments)
    {
        var start = new ProcessStartInfo("ip") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in (string[])["netns", "exec", Name, program, .. arguments]) start.ArgumentList.Add(a);
        return start;
    }

    public void Dispose()
    {
        Ip(["link", "del", HostInterface]);
        Ip(["netns", "del", Name]);
    }

    /// <summary>A socket created in the namespace: a thread enters it, opens the socket and leaves (a socket keeps the namespace it was made in).</summary>
    private Socket OpenSocket()
    {
        Socket? socket = null;
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                using var home = File.OpenHandle("/proc/thread-self/ns/net");
                using var target = File.OpenHandle($"/run/netns/{Name}");
                if (SetNs((int)target.DangerousGetHandle(), CloneNewNet) != 0) throw new IOException($"setns into {Name}: errno {Marshal.GetLastPInvokeError()}");
                try
                {
                    socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                }
                finally
                {
                    SetNs((int)home.DangerousGetHandle(), CloneNewNet);
                }
            }
            catch (Exception e)
            {
                failure = e;
            }
        });
        thread.Start();
        thread.Join();
        return socket ?? throw new IOException($"no socket could be opened in {Name}", failure);
    }

    private static NetworkNamespace? Fail(string reason, out string whyNot)
    {
        whyNot = reason;
        return null;
    }

    private static (int Code, string Output) Ip(string[] arguments)
    {
        var start = new ProcessStartInfo("ip") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in arguments) start.ArgumentList.Add(a);
        try
        {
            using var process = Process.Start(start)!;
            var output = process.StandardOutput.ReadToEnd() + process.StandardError.ReadToEnd();
            process.WaitForExit();
            return (process.ExitCode, output);
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return (-1, $"ip cannot be run: {e.Message}");
        }
    }

    [LibraryImport("libc", EntryPoint = "setns", SetLastError = true)]
    private static partial int SetNs(int fd, int nstype);
}
