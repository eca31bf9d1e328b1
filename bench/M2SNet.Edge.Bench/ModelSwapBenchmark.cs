using System.Text.Json.Serialization;
using M2SNet.Edge.Client;
using M2SNet.Edge.Daemon;
using M2SNet.Edge.Daemon.Configuration;
using M2SNet.Edge.Daemon.Pipeline;
using M2SNet.Edge.Deployment;
using Grpc.Core;
using M2SNet.Edge.Onnx;
using M2SNet.Edge.Protocol;
using M2SNet.Edge.Protocol.V1;
using Microsoft.Extensions.DependencyInjection;

namespace M2SNet.Edge.Bench;

public sealed record SwapClientFigures(
    [property: JsonPropertyName("delivered")] long Delivered,
    [property: JsonPropertyName("missing")] long Missing,
    [property: JsonPropertyName("dropped_for_client")] long DroppedForClient,
    [property: JsonPropertyName("skipped_for_client")] long SkippedForClient,
    [property: JsonPropertyName("not_explained_by_client")] long NotExplainedByClient,
    [property: JsonPropertyName("model_switches_seen")] int SwitchesSeen);

public sealed record ModelSwapReport(
    [property: JsonPropertyName("machine")] MachineInfo Machine,
    [property: JsonPropertyName("source")] string Source,
    [property: JsonPropertyName("swaps")] int Swaps,
    [property: JsonPropertyName("clients")] IReadOnlyList<SwapClientFigures> Clients,
    [property: JsonPropertyName("pipeline_drops")] long PipelineDrops,
    [property: JsonPropertyName("uncounted_gaps")] long UncountedGaps,
    [property: JsonPropertyName("validation_s")] LatencyStats Validation,
    [property: JsonPropertyName("baseline_missing_fraction")] double BaselineMissingFraction,
    [property: JsonPropertyName("swap_missing_fraction")] double SwapMissingFraction,
    [property: JsonPropertyName("drops_per_50_swaps_per_client")] double DropsPer50Swaps);

/// <summary>
/// What model swaps cost a live stream: the daemon (as m2s-edged composes it) plays a 640x360 clip
/// at the given rate to N clients while two signed bundles of the demo model (two versions) are
/// activated in turn, back to back. Every frame each client should have seen is accounted for:
/// delivered, dropped for that client (its own counter) or dropped at a pipeline hand-off (the
/// pipeline's counters); anything else is an uncounted gap. The baseline is as long a run of the
/// same stream without swaps, measured first, so the figure is the swaps' own cost.
/// </summary>
public static class ModelSwapBenchmark
{
    public static async Task<ModelSwapReport> RunAsync(bool quick, double fps, int clients, IProgress<string> progress)
    {
        var swaps = quick ? 10 : 50;
        var work = Directory.CreateTempSubdirectory("m2s-bench-swap-").FullName;
        try
        {
            var clip = Path.Combine(work, "clip.mp4");
            Synthetic.SampleVideo.Write(clip, seed: 11, seconds: 6, fps: fps, width: 640, height: 360);
            var key = BundleSigningKey.Generate();
            var trust = Directory.CreateDirectory(Path.Combine(work, "trusted")).FullName;
            File.WriteAllText(Path.Combine(trust, "bench.pub.pem"), key.PublicKeyPem());
            string[] bundles = [Bundle(work, key, "1.0.1"), Bundle(work, key, "1.0.2")];

            var app = DaemonHost.Build(DaemonCommandLine.Parse(["--firmware-config", Directory.CreateDirectory(Path.Combine(work, "firmware")).FullName]),
                new Dictionary<string, string?>
                {
                    ["Daemon:Source:Uri"] = clip,
                    ["Daemon:Endpoints:Grpc"] = "http://127.0.0.1:0",
                    ["Daemon:Endpoints:Http"] = "",
                    ["Daemon:Models:TrustedKeys"] = trust,
                    ["Daemon:Models:StateDirectory"] = Path.Combine(work, "state"),
                    ["Logging:LogLevel:Default"] = "Warning",
                });
            await using (app.ConfigureAwait(false))
            {
                await DaemonHost.StartAsync(app).ConfigureAwait(false);
                using var channel = DaemonConnection.Open(DaemonHost.BoundAddresses(app)[0]);
                progress.Report("waiting for the daemon");
                await BenchDaemon.WaitUntilStreamingAsync(channel).ConfigureAwait(false);
                var admin = channel.Admin;
                var keys = new List<string>();
                foreach (var bundle in bundles)
                {
                    var bytes = await File.ReadAllBytesAsync(bundle).ConfigureAwait(false);
                    var staged = await BundleUpload.SendAsync(admin, new MemoryStream(bytes), 0, bytes.Length, Guid.NewGuid().ToString("N"), null,
                        stageOnly: true, Path.GetFileName(bundle)).ConfigureAwait(false);
                    keys.Add(staged.Model.Key);
                }
                var active = app.Services.GetRequiredService<ActivePipeline>();
                long PipelineDrops()
                {
                    var d = active.Pipeline?.Dropped ?? (0, 0, 0);
                    return d.BeforePreprocess + d.BeforeInference + d.BeforePostprocess;
                }

                // Baseline: the same stream, as long, without swaps.
                var seconds = quick ? 3.0 : 10.0;
                progress.Report($"baseline: {clients} client(s), {seconds:0} s without swaps");
                var baseline = await StreamAsync(channel, clients, async () => await Task.Delay(TimeSpan.FromSeconds(seconds)).ConfigureAwait(false)).ConfigureAwait(false);

                progress.Report($"{swaps} swaps under {clients} client(s)");
                var validation = new List<double>();
                var dropsBefore = PipelineDrops();
                var run = await StreamAsync(channel, clients, async () =>
                {
                    for (var i = 0; i < swaps; i++)
                    {
                        var result = await admin.ActivateModelAsync(new ActivateModelRequest { Key = keys[i % 2] }).ConfigureAwait(false);
                        if (!result.Activated) throw new InvalidOperationException($"activation {i + 1} failed: {result.Message}");
                        validation.Add(result.ValidationSeconds * 1000);
                        if ((i + 1) % 10 == 0) progress.Report($"{i + 1}/{swaps} swaps");
                    }
                }).ConfigureAwait(false);
                var pipelineDrops = PipelineDrops() - dropsBefore;
                await app.StopAsync().ConfigureAwait(false);

                var figures = run.Select(r => new SwapClientFigures(r.Account.Delivered, r.Account.Missing, r.Account.DroppedForClient, r.Account.SkippedForClient,
                    r.Account.NotExplainedByClient, r.Switches)).ToList();
                // Missed frames as a share of the frames each client should have seen, so runs of
                // different lengths compare; the excess over the baseline is what the swaps cost.
                static double Fraction(IEnumerable<StreamAccount> accounts) =>
                    accounts.Average(a => a.Missing / (double)Math.Max(1, a.Missing + a.Delivered));
                var baseFraction = Fraction(baseline.Select(b => b.Account));
                var swapFraction = Fraction(run.Select(r => r.Account));
                var framesPerClient = run.Average(r => (double)(r.Account.Missing + r.Account.Delivered));
                return new ModelSwapReport(MachineInfo.Current(), $"640x360 at {fps:0.##} fps, {clients} clients", swaps, figures, pipelineDrops,
                    Math.Max(0, figures.Max(f => f.NotExplainedByClient) - pipelineDrops), LatencyStats.From(validation),
                    baseFraction, swapFraction, (swapFraction - baseFraction) * framesPerClient * 50.0 / swaps);
            }
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    /// <summary>The bundled demo model signed as another version, as m2s bundle create makes it.</summary>
    private static string Bundle(string work, BundleSigningKey key, string version)
    {
        var demo = Path.Combine(AppContext.BaseDirectory, "models", "m2snet-s-demo.onnx");
        var folder = Directory.CreateDirectory(Path.Combine(work, version)).FullName;
        var onnx = Path.Combine(folder, "demo.onnx");
        File.Copy(demo, onnx);
        var manifest = ModelManifest.FromJson(File.ReadAllText(ModelManifest.PathFor(demo)));
        File.WriteAllText(ModelManifest.PathFor(onnx), (manifest with { Version = version }).ToJson());
        var bundle = Path.Combine(folder, "demo" + ModelBundle.Extension);
        ModelBundle.Create(onnx, bundle, key);
        return bundle;
    }

    /// <summary>Streams to N clients while <paramref name="during"/> runs; each client's account from its first message on.</summary>
    private static async Task<List<(StreamAccount Account, int Switches)>> StreamAsync(DaemonConnection channel, int clients, Func<Task> during)
    {
        using var stop = new CancellationTokenSource();
        var started = Enumerable.Range(0, clients).Select(_ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).ToArray();
        var readers = Enumerable.Range(0, clients).Select(i => Task.Run(async () =>
        {
            var account = new StreamAccount();
            var switches = 0;
            string? lastVersion = null;
            using var call = channel.Segmentation.StreamMasks(new StreamMasksRequest
            {
                ClientName = $"bench-swap-{i + 1}",
                Options = new MaskOptions { Encoding = MaskEncoding.Rle, Width = 160, Height = 90 },
            });
            try
            {
                while (await call.ResponseStream.MoveNext(stop.Token).ConfigureAwait(false))
                {
                    var m = call.ResponseStream.Current;
                    account.Add(m);
                    if (lastVersion is not null && lastVersion != m.Model.Version) switches++;
                    lastVersion = m.Model.Version;
                    started[i].TrySetResult();
                }
            }
            catch (Exception e) when (stop.IsCancellationRequested && e is OperationCanceledException or RpcException)
            {
            }
            return (account, switches);
        })).ToArray();
        await Task.WhenAll(started.Select(s => s.Task)).WaitAsync(TimeSpan.FromMinutes(5)).ConfigureAwait(false);
        await during().ConfigureAwait(false);
        // Half a second more, so the last model's frames reach the clients too.
        await Task.Delay(500).ConfigureAwait(false);
        await stop.CancelAsync().ConfigureAwait(false);
        return [.. await Task.WhenAll(readers).ConfigureAwait(false)];
    }
}
