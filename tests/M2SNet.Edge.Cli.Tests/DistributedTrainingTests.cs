using System.Diagnostics;
using M2SNet.Edge.TestSupport;

namespace M2SNet.Edge.Cli.Tests;

/// <summary><c>m2s train --nproc-per-node</c>: ranks as processes, joined through libtorch's c10d on loopback.</summary>
public sealed class DistributedTrainingTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("m2s-cli-ddp-");

    public void Dispose() => _dir.Delete(recursive: true);

    private string P(string name) => Path.Combine(_dir.FullName, name);


    private string[] Train(string port) =>
    [
        "train", "--model", "m2snet-s", "--data", P("data"), "--val-fraction", "0.25", "--epochs", "1", "--batch-size", "2", "--size", "64",
        "--rates", "1", "--max-batches", "2", "--seed", "3", "--master-port", port, "--dist-timeout", "30", "--out", P("run"),
    ];

    [Fact]
    public async Task Two_local_ranks_train_together_and_rank_0_alone_writes_the_run()
    {
        Assert.Equal(0, (await CliProcess.RunAsync("synth", "--out", P("data"), "--count", "12", "--size", "64", "--seed", "5")).ExitCode);

        var r = await CliProcess.RunAsync([.. Train(Ffmpeg.FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture)), "--nproc-per-node", "2"]);

        Assert.True(r.ExitCode == 0, r.Stdout + r.Stderr);
        Assert.Contains("starting 2 rank(s) of a world of 2", r.Stdout);
        Assert.Contains("world size 2", r.Stdout);
        Assert.Contains("data parallel over 2 ranks (gloo): this is rank 0", r.Stdout);
        Assert.Contains("[rank 1] data parallel over 2 ranks (gloo): this is rank 1", r.Stdout);
        Assert.Single(r.Stdout.Split('\n'), l => l.StartsWith("best validation mDice", StringComparison.Ordinal));
        Assert.True(File.Exists(P("run/last.pth")) && File.Exists(P("run/log.csv")));
    }

    [Fact]
    public async Task A_rank_that_dies_ends_the_others_with_an_error_instead_of_a_hang()
    {
        Assert.Equal(0, (await CliProcess.RunAsync("synth", "--out", P("data"), "--count", "12", "--size", "64", "--seed", "5")).ExitCode);
        var port = Ffmpeg.FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture);

        // Two ranks started as a cluster launcher would; rank 1 is killed once it has joined.
        Process Rank(int rank)
        {
            var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
            psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "m2s.dll"));
            foreach (var a in Train(port)) psi.ArgumentList.Add(a);
            psi.Environment["WORLD_SIZE"] = "2";
            psi.Environment["RANK"] = rank.ToString(System.Globalization.CultureInfo.InvariantCulture);
            psi.Environment["MASTER_ADDR"] = "127.0.0.1";
            psi.Environment["MASTER_PORT"] = port;
            return Process.Start(psi)!;
        }
        using var rank0 = Rank(0);
        using var rank1 = Rank(1);
        var ct = TestContext.Current.CancellationToken;
        var out0 = rank0.StandardOutput.ReadToEndAsync(ct);
        var err0 = rank0.StandardError.ReadToEndAsync(ct);
        var joined = false;
        while (await rank1.StandardOutput.ReadLineAsync(ct) is { } line)
        {
            if (!line.Contains("data parallel over 2 ranks", StringComparison.Ordinal)) continue;
            joined = true;
            rank1.Kill(entireProcessTree: true);
            break;
        }
        Assert.True(joined, "rank 1 never joined");

        // Far beyond the 30 s collective timeout: a guard against a hang, not a measure of speed.
        using var guard = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        await rank0.WaitForExitAsync(guard.Token);

        Assert.Equal(1, rank0.ExitCode);
        Assert.Matches(@"m2s: error: rank 0 of 2: (all-reduce|broadcast from rank 0) failed: ", await err0 + await out0);
    }
}
