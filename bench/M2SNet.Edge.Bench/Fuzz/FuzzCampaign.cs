using System.Diagnostics;
using System.Globalization;
using System.Net;
using Grpc.Core;
using Grpc.Health.V1;
using M2SNet.Edge.Daemon;
using M2SNet.Edge.Daemon.Configuration;
using M2SNet.Edge.Protocol;
using M2SNet.Edge.Protocol.V1;

namespace M2SNet.Edge.Bench.Fuzz;

/// <param name="Count">Inputs in all, shared among the categories by <see cref="FuzzCampaign.Shares"/>.</param>
/// <param name="TimeCap">The whole run's wall-clock cap; a category that reaches its part stops there and says so.</param>
public sealed record FuzzSettings(int Count, int Seed, bool Quick, TimeSpan TimeCap)
{
    public static FuzzSettings For(int? count, int seed, bool quick) =>
        new(count ?? (quick ? 1000 : 10_000), seed, quick, quick ? TimeSpan.FromSeconds(90) : TimeSpan.FromMinutes(40));
}

/// <summary>
/// The fuzz suite's one engine, behind both <c>m2s-bench fuzz</c> and the quick test: the daemon as
/// m2s-edged composes it (in this process, on loopback ports), one viewer streaming masks beside
/// the fuzz, then every category's inputs one after another. Input i of a category is made from
/// <c>new Random(InputSeed(seed, category, i))</c> alone, so any failure is made again from the
/// three numbers the report lists. The daemon's RSS is this process's (it hosts the daemon) after
/// a full garbage collection, before the first input and after the last.
/// </summary>
public static class FuzzCampaign
{
    public static IReadOnlyList<(string Category, double Share)> Shares { get; } =
        [("frames", 0.30), ("messages", 0.25), ("http2", 0.25), ("bundles", 0.10), ("checkpoints", 0.10)];

    /// <summary>One input's bound: past it, the input counts as a hang.</summary>
    public static readonly TimeSpan InputBound = TimeSpan.FromSeconds(30);

    private const int MaxListedFailures = 200;

    public static int InputSeed(int seed, int category, int index)
    {
        var h = (ulong)(uint)seed * 0x9E3779B97F4A7C15UL ^ (ulong)(category + 1) * 0xC2B2AE3D27D4EB4FUL ^ (ulong)(index + 1) * 0x165667B19E3779F9UL;
        h ^= h >> 29;
        h *= 0xBF58476D1CE4E5B9UL;
        return (int)(h ^ (h >> 32));
    }

    public static async Task<FuzzReport> RunAsync(FuzzSettings settings, IProgress<string> progress, CancellationToken cancel = default)
    {
        var wall = Stopwatch.StartNew();
        var work = Directory.CreateTempSubdirectory("m2s-fuzz-").FullName;
        try
        {
            var clip = Path.Combine(work, "clip.mp4");
            Synthetic.SampleVideo.Write(clip, seed: 11, seconds: 4, fps: 30, width: 640, height: 360);
            var limits = new LimitOptions { MaxFrameWidth = 1920, MaxFrameHeight = 1080, MaxReceiveMessageBytes = 8 << 20 };
            using var bundles = new FuzzBundles(work);
            var app = DaemonHost.Build(DaemonCommandLine.Parse(["--firmware-config", Directory.CreateDirectory(Path.Combine(work, "firmware")).FullName]),
                new Dictionary<string, string?>
                {
                    ["Daemon:Source:Uri"] = clip,
                    ["Daemon:Endpoints:Grpc"] = "http://127.0.0.1:0",
                    ["Daemon:Endpoints:Http"] = "",
                    ["Daemon:Model:Threads"] = "1",
                    ["Daemon:Model:WarmupRuns"] = "1",
                    ["Daemon:Limits:MaxFrameWidth"] = limits.MaxFrameWidth.ToString(CultureInfo.InvariantCulture),
                    ["Daemon:Limits:MaxFrameHeight"] = limits.MaxFrameHeight.ToString(CultureInfo.InvariantCulture),
                    ["Daemon:Limits:MaxReceiveMessageBytes"] = limits.MaxReceiveMessageBytes.ToString(CultureInfo.InvariantCulture),
                    ["Daemon:Models:TrustedKeys"] = bundles.TrustDirectory,
                    ["Daemon:Models:StateDirectory"] = Path.Combine(work, "state"),
                    // Every refused input would otherwise be a log line; errors still show.
                    ["Logging:LogLevel:Default"] = "Error",
                });
            await using (app.ConfigureAwait(false))
            {
                await DaemonHost.StartAsync(app).ConfigureAwait(false);
                var address = DaemonHost.BoundAddresses(app)[0];
                using var channel = DaemonConnection.Open(address);
                progress.Report("waiting for the daemon to stream");
                await BenchDaemon.WaitUntilStreamingAsync(channel).ConfigureAwait(false);
                var modelBefore = await ModelAsync(channel).ConfigureAwait(false);

                using var messages = new MessageFuzzer(address);
                var uri = new Uri(address);
                var targets = new IFuzzTarget[]
                {
                    new FrameFuzzer(channel.Segmentation, limits, clip),
                    messages,
                    new Http2Fuzzer(new IPEndPoint(IPAddress.Loopback, uri.Port)),
                    new BundleFuzzer(channel.Admin, bundles),
                    new CheckpointFuzzer(work),
                };
                await using var viewer = new FuzzViewer(channel.Segmentation);
                await viewer.StartAsync(cancel).ConfigureAwait(false);
                var (rssBefore, _) = Rss();
                progress.Report($"RSS before: {rssBefore:F0} MiB; {settings.Count} inputs, seed {settings.Seed}");
                viewer.Start();

                var figures = new List<FuzzCategoryFigures>();
                var failures = new List<FuzzOutcome>();
                var clock = Stopwatch.StartNew();
                var shareSoFar = 0.0;
                for (var c = 0; c < targets.Length; c++)
                {
                    var (name, share) = Shares[c];
                    shareSoFar += share;
                    var planned = c == targets.Length - 1 ? settings.Count - figures.Sum(f => f.Planned) : (int)Math.Round(settings.Count * share);
                    var deadline = settings.TimeCap * shareSoFar;
                    figures.Add(await RunCategoryAsync(targets[c], c, planned, settings.Seed, () => clock.Elapsed > deadline || viewer.Failure is not null,
                        failures, progress, cancel).ConfigureAwait(false));
                }

                var (rssAfter, rssPeak) = Rss();
                var viewerFigures = await viewer.StopAsync().ConfigureAwait(false);
                var health = await HealthAsync(channel).ConfigureAwait(false);
                var modelAfter = await ModelAsync(channel).ConfigureAwait(false);
                progress.Report($"RSS after: {rssAfter:F0} MiB (peak {rssPeak:F0}); viewer {viewerFigures.Frames} masks; health {health}");
                await app.StopAsync(CancellationToken.None).ConfigureAwait(false);
                return new FuzzReport(MachineInfo.Current(), settings.Seed, settings.Count, settings.Quick, figures, failures.Take(MaxListedFailures).ToList(),
                    rssBefore, rssAfter, rssPeak, viewerFigures, modelBefore, modelAfter, health, wall.Elapsed.TotalSeconds);
            }
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    private static async Task<FuzzCategoryFigures> RunCategoryAsync(IFuzzTarget target, int category, int planned, int seed, Func<bool> stop,
        List<FuzzOutcome> failures, IProgress<string> progress, CancellationToken cancel)
    {
        var answers = new SortedDictionary<string, int>(StringComparer.Ordinal);
        var clock = Stopwatch.StartNew();
        var (tried, unacceptable, capped) = (0, 0, false);
        var every = Math.Max(1, planned / 5);
        for (var i = 0; i < planned; i++)
        {
            if (stop())
            {
                capped = true;
                break;
            }
            var outcome = await RunOneAsync(target, category, i, seed, cancel).ConfigureAwait(false);
            tried++;
            answers[outcome.Answer] = answers.GetValueOrDefault(outcome.Answer) + 1;
            if (!outcome.Acceptable)
            {
                unacceptable++;
                failures.Add(outcome);
                progress.Report($"  UNACCEPTABLE {outcome.Category}#{outcome.Index} ({outcome.Input}): {outcome.Answer}: {outcome.Detail}");
            }
            if ((i + 1) % every == 0) progress.Report($"{target.Category}: {i + 1}/{planned} ({unacceptable} unacceptable, {clock.Elapsed.TotalSeconds:F0} s)");
        }
        if (capped) progress.Report($"{target.Category}: stopped at {tried}/{planned} by the time cap or a failed viewer");
        return new FuzzCategoryFigures(target.Category, planned, tried, unacceptable, answers, clock.Elapsed.TotalSeconds, capped);
    }

    /// <summary>One input, bounded: a target that neither answers nor gives up within <see cref="InputBound"/> is a hang.</summary>
    private static async Task<FuzzOutcome> RunOneAsync(IFuzzTarget target, int category, int index, int seed, CancellationToken cancel)
    {
        var random = new Random(InputSeed(seed, category, index));
        using var bound = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        bound.CancelAfter(InputBound);
        FuzzAnswer answer;
        try
        {
            // On the pool, so a target stuck in synchronous code still lets the bound fire.
            answer = await Task.Run(() => target.RunAsync(random, bound.Token), CancellationToken.None)
                .WaitAsync(InputBound + TimeSpan.FromSeconds(5), cancel).ConfigureAwait(false);
        }
        catch (Exception e) when (!cancel.IsCancellationRequested && (e is TimeoutException || bound.IsCancellationRequested))
        {
            answer = new FuzzAnswer("?", "hang", false, $"no answer within {InputBound.TotalSeconds:0} s");
        }
        catch (Exception e) when (!cancel.IsCancellationRequested && e is RpcException or HttpRequestException or IOException or System.Net.Sockets.SocketException)
        {
            // The target's own call failed outside what it judges: the daemon dropped the connection or is gone.
            answer = new FuzzAnswer("?", "dropped", false, $"{e.GetType().Name}: {e.Message}");
        }
#pragma warning disable CA1031 // A fault of the fuzzer itself is one more unacceptable answer, listed with its input, not the end of the run.
        catch (Exception e) when (!cancel.IsCancellationRequested)
#pragma warning restore CA1031
        {
            answer = new FuzzAnswer("?", "fuzzer fault", false, $"{e.GetType().Name}: {e.Message} at {e.StackTrace?.Split('\n').FirstOrDefault()?.Trim()}");
        }
        return new FuzzOutcome(target.Category, index, answer.Input, answer.Answer, answer.Acceptable, answer.Detail);
    }

    private static async Task<string> ModelAsync(DaemonConnection channel)
    {
        var info = await channel.Segmentation.GetInfoAsync(new GetInfoRequest(), deadline: DateTime.UtcNow.AddSeconds(30)).ConfigureAwait(false);
        return $"{info.Model.Id} {info.Model.Version}";
    }

    private static async Task<string> HealthAsync(DaemonConnection channel)
    {
        var reply = await channel.Health.CheckAsync(new HealthCheckRequest(), deadline: DateTime.UtcNow.AddSeconds(30)).ConfigureAwait(false);
        return reply.Status == HealthCheckResponse.Types.ServingStatus.Serving ? "SERVING" : reply.Status.ToString();
    }

    /// <summary>VmRSS and VmHWM of this process in MiB, after a full, compacting collection.</summary>
    private static (double Rss, double Peak) Rss()
    {
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        double Field(string name) => File.ReadLines("/proc/self/status").Where(l => l.StartsWith(name, StringComparison.Ordinal))
            .Select(l => double.Parse(l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024).FirstOrDefault();
        return (Field("VmRSS:"), Field("VmHWM:"));
    }
}
