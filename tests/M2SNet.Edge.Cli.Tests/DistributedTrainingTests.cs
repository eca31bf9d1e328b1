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
        "--rates", "1", "--max-batches", "2", "--seed", "3", "--master-port", port, "--out", P("run"),
    ];

    [Fact]
    public async Task Two_local_ranks_train_together_and_rank_0_alone_writes_the_run()
    {
        Assert.Equal(0, (await CliProcess.RunAsync("synth", "--out", P("data"), "--count", "12", "--size", "64", "--seed", "5")).ExitCode);

        var r = await CliProcess.RunAsync([.. Train(Ffmpeg.FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture)), "--nproc-per-node", "2", "--dist-timeout", "60"]);

        Assert.True(r.ExitCode == 0, r.Stdout + r.Stderr);
        Assert.Contains("starting 2 rank(s) of a world of 2", r.Stdout);
        Assert.Contains("world size 2", r.Stdout);
        Assert.Contains("data parallel over 2 ranks (gloo): this is rank 0", r.Stdout);
        Assert.Contains("[rank 1] data parallel over 2 ranks (gloo): this is rank 1", r.Stdout);
        Assert.Single(r.Stdout.Split('\n'), l => l.StartsWith("best validation mDice", StringComparison.Ordinal));
        Assert.True(File.Exists(P("run/last.pth")) && File.Exists(P("run/log.csv")));
    }

    [Theory]
    [InlineData("nccl", "cpu", "--dist-backend nccl needs --device cuda")]
    [InlineData("mpi", "cpu", "unknown --dist-backend 'mpi' (auto, gloo or nccl)")]
    [InlineData("nccl", "cuda", "this libtorch shim has no NCCL, or no GPU is present")]
    public async Task A_backend_this_rank_cannot_run_is_refused_before_it_joins(string backend, string device, string error)
    {
        Assert.SkipWhen(device == "cuda" && M2SNet.Edge.Torch.Distributed.ProcessGroup.IsAvailable("nccl"), "this machine runs NCCL");
        Assert.Equal(0, (await CliProcess.RunAsync("synth", "--out", P("data"), "--count", "4", "--size", "64", "--seed", "5")).ExitCode);
        var rank = new Dictionary<string, string> { ["WORLD_SIZE"] = "2", ["RANK"] = "1", ["MASTER_ADDR"] = "127.0.0.1", ["MASTER_PORT"] = "1" };

        var r = await CliProcess.RunAsync(rank, [.. Train("1"), "--dist-backend", backend, "--device", device]);

        Assert.Equal(1, r.ExitCode);
        Assert.Contains($"m2s: error: {error}", r.Stderr);
    }

    [Theory]
    [InlineData(1, "rank 1 stopped answering")]
    [InlineData(0, "rank 0, which serves the rendezvous at 127.0.0.1:")]
    public async Task A_rank_that_dies_ends_the_others_with_an_error_naming_it_instead_of_a_hang(int victim, string named)
    {
        var (code, output) = await SurvivorOf(victim, hang: false, timeoutSeconds: 30);

        Assert.Equal(1, code);
        Assert.Matches($@"m2s: error: rank {1 - victim} of 2: (all-reduce|broadcast from rank 0|barrier) failed: ", output);
        Assert.Contains(named, output);
    }

    [Theory]
    [InlineData(1, "rank 1 stopped answering")]
    [InlineData(0, "rank 0, which serves the rendezvous at 127.0.0.1:")]
    public async Task A_rank_that_hangs_ends_the_others_after_the_timeout_with_an_error_naming_it(int victim, string named)
    {
        var (code, output) = await SurvivorOf(victim, hang: true, timeoutSeconds: 8);

        Assert.Equal(1, code);
        Assert.Matches($@"m2s: error: rank {1 - victim} of 2: (all-reduce|broadcast from rank 0|barrier) failed: {named}", output);
    }

    /// <summary>
    /// Two ranks started as a cluster launcher would; once both have joined, <paramref name="victim"/>
    /// is killed, or stopped (SIGSTOP) when <paramref name="hang"/>. Returns the other rank's exit code
    /// and output.
    /// </summary>
    private async Task<(int Code, string Output)> SurvivorOf(int victim, bool hang, int timeoutSeconds)
    {
        Assert.Equal(0, (await CliProcess.RunAsync("synth", "--out", P("data"), "--count", "12", "--size", "64", "--seed", "5")).ExitCode);
        var port = Ffmpeg.FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture);
        Process Rank(int rank)
        {
            var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
            psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "m2s.dll"));
            foreach (var a in Train(port)) psi.ArgumentList.Add(a);
            psi.ArgumentList.Add("--dist-timeout");
            psi.ArgumentList.Add(timeoutSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture));
            psi.Environment["WORLD_SIZE"] = "2";
            psi.Environment["RANK"] = rank.ToString(System.Globalization.CultureInfo.InvariantCulture);
            psi.Environment["MASTER_ADDR"] = "127.0.0.1";
            psi.Environment["MASTER_PORT"] = port;
            return Process.Start(psi)!;
        }
        using var rank0 = Rank(0);
        using var rank1 = Rank(1);
        var (target, survivor) = victim == 0 ? (rank0, rank1) : (rank1, rank0);
        try
        {
            var ct = TestContext.Current.CancellationToken;
            var output = survivor.StandardOutput.ReadToEndAsync(ct);
            var errors = survivor.StandardError.ReadToEndAsync(ct);
            _ = target.StandardError.ReadToEndAsync(ct);
            var joined = false;
            while (await target.StandardOutput.ReadLineAsync(ct) is { } line)
            {
                if (!line.Contains("data parallel over 2 ranks", StringComparison.Ordinal)) continue;
                joined = true;
                if (hang)
                {
                    using var stop = Process.Start("kill", ["-STOP", target.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
                    await stop.WaitForExitAsync(ct);
                }
                else
                {
                    target.Kill(entireProcessTree: true);
                }
                break;
            }
            Assert.True(joined, $"rank {victim} never joined");

            // Far beyond the collective timeout: a guard against a hang, not a measure of speed.
            using var guard = new CancellationTokenSource(TimeSpan.FromMinutes(3));
            await survivor.WaitForExitAsync(guard.Token);
            return (survivor.ExitCode, await errors + await output);
        }
        finally
        {
            if (!rank0.HasExited) rank0.Kill(entireProcessTree: true);
            if (!rank1.HasExited) rank1.Kill(entireProcessTree: true);
        }
    }
}
