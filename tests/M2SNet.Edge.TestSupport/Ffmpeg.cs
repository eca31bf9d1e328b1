using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace M2SNet.Edge.TestSupport;

/// <summary>The real ffmpeg, for preparing files and serving streams on 127.0.0.1.</summary>
public static class Ffmpeg
{
    public static void Run(string arguments)
    {
        using var p = Process.Start(new ProcessStartInfo("ffmpeg", "-hide_banner -loglevel error " + arguments) { RedirectStandardError = true })!;
        var err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"ffmpeg {arguments} failed: {err}");
    }

    /// <summary>Serves a file as an endless MPEG-TS stream over HTTP on a loopback port (one client).</summary>
    public static (Process Server, string Url) ServeHttp(string file, int port)
    {
        var url = $"http://127.0.0.1:{port}/live.ts";
        var p = Process.Start(new ProcessStartInfo("ffmpeg",
            $"-hide_banner -loglevel error -re -stream_loop -1 -i {file} -c:v mpeg4 -q:v 5 -g 15 -f mpegts -listen 1 {url}") { RedirectStandardError = true })!;
        WaitListening(port);
        return (p, url);
    }

    /// <summary>
    /// Waits until ffmpeg listens on the port (or already serves a client that connected at once),
    /// without connecting itself: ffmpeg serves a single client.
    /// </summary>
    private static void WaitListening(int port)
    {
        var hexPort = $":{port:X4} ";
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (DateTime.UtcNow < deadline)
        {
            // /proc/net/tcp: local address column "0100007F:PORT", state 0A = LISTEN.
            if (File.ReadLines("/proc/net/tcp").Skip(1).Any(l =>
            {
                var f = l.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                return f.Length > 3 && f[1].EndsWith(hexPort.Trim(), StringComparison.Ordinal) && f[3] is "0A" or "01";
            }))
            {
                return;
            }
            Thread.Sleep(50);
        }
        throw new TimeoutException($"ffmpeg did not listen on port {port}");
    }

    public static int FreePort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        var port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }
}
