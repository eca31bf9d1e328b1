using System.CommandLine;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Grpc.Core;
using Grpc.Health.V1;
using M2SNet.Edge.Protocol;
using M2SNet.Edge.Protocol.V1;

namespace M2SNet.Edge.Client;

/// <summary>
/// The README's main command: starts the daemon on its embedded defaults (the bundled sample
/// video through the bundled demo model, on loopback), subscribes, prints the latency table,
/// and stops the daemon again.
/// </summary>
public static class DemoCommand
{
    private static readonly Option<string?> Daemon = new("--daemon") { Description = "the daemon to start (default: ./m2s-edged of this checkout, or $M2S_EDGED)" };

    public static Command Create()
    {
        var command = new Command("demo", "Start the daemon on its bundled sample video and model, then measure it as `bench` does.")
            { Daemon, Commands.Clients, Commands.Seconds, Commands.Warmup, Commands.Encoding, Commands.Jpeg, Commands.MaxP99, Commands.Out };
        command.SetAction(async (parse, cancel) =>
        {
            var daemon = FindDaemon(parse.GetValue(Daemon));
            var port = FreePort();
            var address = $"http://127.0.0.1:{port}";
            Console.Error.WriteLine($"m2s-client: starting {daemon} on {address} (the first run builds it and writes the sample video)");
            var psi = new ProcessStartInfo(daemon) { RedirectStandardError = true, RedirectStandardOutput = true };
            foreach (var a in new[] { "--urls", address, "--http-urls", "" }) psi.ArgumentList.Add(a);
            using var process = Process.Start(psi) ?? throw new IOException($"cannot start {daemon}");
            var log = new List<string>();
            void Forward(string? line)
            {
                if (line is null) return;
                lock (log) log.Add(line);
                Console.Error.WriteLine("  m2s-edged | " + line);
            }
            process.ErrorDataReceived += (_, e) => Forward(e.Data);
            process.OutputDataReceived += (_, e) => Forward(e.Data);
            process.BeginErrorReadLine();
            process.BeginOutputReadLine();
            try
            {
                await WaitUntilServingAsync(address, process, cancel);
                return await Commands.RunBenchAsync(parse, () => DaemonConnection.Open(address), cancel);
            }
            finally
            {
                Stop(process);
            }
        });
        return command;
    }

    private static string FindDaemon(string? explicitPath)
    {
        if (!string.IsNullOrWhiteSpace(explicitPath)) return explicitPath;
        if (Environment.GetEnvironmentVariable("M2S_EDGED") is { Length: > 0 } fromEnv) return fromEnv;
        // Built by the launcher into <checkout>/.build/M2SNet.Edge.Client: the checkout's launcher is two levels up.
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var launcher = Path.Combine(dir.FullName, "m2s-edged");
            if (File.Exists(launcher) && File.Exists(Path.Combine(dir.FullName, "M2SNet.Edge.sln"))) return launcher;
        }
        var beside = Path.Combine(AppContext.BaseDirectory, OperatingSystem.IsWindows() ? "m2s-edged.exe" : "m2s-edged");
        if (File.Exists(beside)) return beside;
        throw new IOException("cannot find the daemon: give --daemon PATH or set M2S_EDGED");
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static async Task WaitUntilServingAsync(string address, Process daemon, CancellationToken cancel)
    {
        var clock = Stopwatch.StartNew();
        using var channel = DaemonConnection.Open(address);
        var health = channel.Health;
        while (true)
        {
            if (daemon.HasExited) throw new IOException($"the daemon exited with code {daemon.ExitCode} before it was ready (its log is above)");
            if (clock.Elapsed > TimeSpan.FromMinutes(10)) throw new IOException("the daemon was not ready after 10 minutes");
            try
            {
                var reply = await health.CheckAsync(new HealthCheckRequest(), new CallOptions(deadline: DateTime.UtcNow.AddSeconds(5), cancellationToken: cancel));
                // SERVING says the model is warm; the measurement starts once frames flow too (on the
                // first run the daemon writes its sample video before it can stream it).
                if (reply.Status == HealthCheckResponse.Types.ServingStatus.Serving)
                {
                    var info = await channel.Segmentation.GetInfoAsync(new GetInfoRequest(), new CallOptions(deadline: DateTime.UtcNow.AddSeconds(5), cancellationToken: cancel));
                    if (info.Source.State == "streaming" && info.Source.FramesCaptured > 0) return;
                }
            }
            catch (RpcException e) when (e.StatusCode is StatusCode.Unavailable or StatusCode.DeadlineExceeded)
            {
                // Still building or starting.
            }
            await Task.Delay(250, cancel);
        }
    }

    private static void Stop(Process daemon)
    {
        if (daemon.HasExited) return;
        // SIGTERM: the daemon drains its clients and stops the pipeline; killed if it does not within 15 s.
        if (OperatingSystem.IsWindows() || !Terminate(daemon.Id)) daemon.Kill(entireProcessTree: true);
        if (!daemon.WaitForExit(TimeSpan.FromSeconds(15))) daemon.Kill(entireProcessTree: true);
        daemon.WaitForExit();
    }

    private static bool Terminate(int pid)
    {
        using var kill = Process.Start(new ProcessStartInfo("kill", ["-TERM", pid.ToString(System.Globalization.CultureInfo.InvariantCulture)]));
        kill?.WaitForExit();
        return kill is { ExitCode: 0 };
    }
}
