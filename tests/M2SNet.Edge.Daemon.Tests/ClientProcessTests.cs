using System.Diagnostics;

namespace M2SNet.Edge.Daemon.Tests;

/// <summary>m2s-client as people run it: a process, its output and exit code.</summary>
public sealed class ClientProcessTests
{
    private static async Task<(int Code, string Stdout, string Stderr)> RunAsync(TimeSpan limit, params string[] args) =>
        await RunAsync(limit, new Dictionary<string, string>(), args);

    private static async Task<(int Code, string Stdout, string Stderr)> RunAsync(TimeSpan limit, IReadOnlyDictionary<string, string> environment, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var (k, v) in environment) psi.Environment[k] = v;
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "m2s-client.dll"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["NO_COLOR"] = "1";
        psi.Environment["COLUMNS"] = "160";
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var stderr = p.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(limit);
        try
        {
            await p.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            p.Kill(entireProcessTree: true);
            throw;
        }
        return (p.ExitCode, await stdout, await stderr);
    }

    [Fact]
    public async Task Readme_main_command_on_a_fresh_machine_starts_the_daemon_and_prints_the_latency_table()
    {
        // An empty data folder: as on a fresh machine, the daemon first writes its sample video.
        var fresh = new Dictionary<string, string> { ["M2S_DATA_DIR"] = Directory.CreateTempSubdirectory("m2s-fresh-").FullName };
        var (code, stdout, stderr) = await RunAsync(TimeSpan.FromMinutes(6), fresh, "demo", "--seconds", "3", "--daemon", Path.Combine(AppContext.BaseDirectory, "m2s-edged"));

        Assert.True(code == 0, $"exit {code}\n{stderr}");
        Assert.Contains("capture → received", stdout);
        Assert.Contains("overhead (all but inference)", stdout);
        Assert.Matches(@"\d+ frames over 1 client\(s\)", stdout);
    }

    [Fact]
    public async Task Unreachable_daemon_is_one_line_with_a_hint()
    {
        var (code, _, stderr) = await RunAsync(TimeSpan.FromMinutes(1), "info", "--address", "http://127.0.0.1:9");

        Assert.Equal(1, code);
        Assert.Contains("m2s-client: Unavailable:", stderr);
        Assert.Contains("is the daemon running?", stderr);
    }

    [Fact]
    public async Task Unknown_mask_encoding_is_refused_before_connecting()
    {
        var (code, _, stderr) = await RunAsync(TimeSpan.FromMinutes(1), "bench", "--encoding", "Jpeg2000", "--address", "http://127.0.0.1:9");

        Assert.NotEqual(0, code);
        Assert.Contains("Jpeg2000", stderr);
        Assert.DoesNotContain("Unavailable", stderr);
    }
}
