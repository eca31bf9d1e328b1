using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json.Serialization;
using Grpc.Core;
using M2SNet.Edge.Protocol;
using M2SNet.Edge.Protocol.V1;

namespace M2SNet.Edge.Bench;

public sealed record HoldRun(
    [property: JsonPropertyName("daemon")] string Daemon,
    [property: JsonPropertyName("calls")] int Calls,
    [property: JsonPropertyName("held")] int Held,
    [property: JsonPropertyName("refused")] int Refused,
    [property: JsonPropertyName("statuses")] IReadOnlyDictionary<string, int> Statuses,
    [property: JsonPropertyName("rss_before_mib")] double RssBefore,
    [property: JsonPropertyName("rss_peak_mib")] double RssPeak,
    [property: JsonPropertyName("rss_after_mib")] double RssAfter,
    [property: JsonPropertyName("viewer_frames_while_held")] int ViewerFrames,
    [property: JsonPropertyName("viewer_failed")] string? ViewerFailed);

public sealed record HoldReport(
    [property: JsonPropertyName("machine")] MachineInfo Machine,
    [property: JsonPropertyName("announced_bytes")] long Announced,
    [property: JsonPropertyName("sent_bytes")] long Sent,
    [property: JsonPropertyName("runs")] IReadOnlyList<HoldRun> Runs,
    [property: JsonPropertyName("peak_growth_ratio_bounded_to_unbounded")] double PeakGrowthRatio);

/// <summary>
/// Issue 17's D2 as its reporter ran it: Segment calls that each announce a 32 MiB frame, send
/// 31 MiB of it and stop, against the real daemon in a process of its own (its RSS read from
/// /proc), while a viewer streams beside them. Run twice in one go: the daemon as configured
/// (unfinished messages bounded) and, as the baseline, with the bounds lifted.
/// </summary>
public static class HoldBenchmark
{
    public static async Task<HoldReport> RunAsync(bool quick, IProgress<string> progress)
    {
        var calls = quick ? 6 : 20;
        const int announced = 32 * 1024 * 1024;
        var sent = quick ? 12 * 1024 * 1024 : 31 * 1024 * 1024;
        var payload = new byte[sent];
        var runs = new List<HoldRun>();
        foreach (var (label, settings) in new (string, string[])[]
        {
            ("bounded (defaults)", []),
            ("unbounded (baseline)", ["--Daemon:Limits:MaxUnfinishedMessageBytes=68719476736", "--Daemon:Limits:MessageTimeoutSeconds=0"]),
        })
        {
            progress.Report($"{label}: starting the daemon");
            runs.Add(await RunOnceAsync(label, settings, calls, announced, payload, quick, progress).ConfigureAwait(false));
        }
        var bounded = runs[0].RssPeak - runs[0].RssBefore;
        var unbounded = runs[1].RssPeak - runs[1].RssBefore;
        return new HoldReport(MachineInfo.Current(), announced, sent, runs, unbounded > 0 ? bounded / unbounded : double.NaN);
    }

    private static async Task<HoldRun> RunOnceAsync(string label, string[] settings, int calls, int announced, byte[] payload, bool quick, IProgress<string> progress)
    {
        var (grpcPort, httpPort) = (FreePort(), FreePort());
        var firmware = Directory.CreateTempSubdirectory("m2s-bench-hold-").FullName;
        var start = new ProcessStartInfo(Path.Combine(AppContext.BaseDirectory, "m2s-edged")) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in (string[])["--firmware-config", firmware, "--urls", $"http://127.0.0.1:{grpcPort}", "--http-urls", $"http://127.0.0.1:{httpPort}",
                     "--provider", "cpu", "--Logging:LogLevel:Default=Error", .. settings])
        {
            start.ArgumentList.Add(a);
        }
        using var daemon = Process.Start(start) ?? throw new InvalidOperationException("m2s-edged did not start");
        _ = daemon.StandardOutput.ReadToEndAsync();
        _ = daemon.StandardError.ReadToEndAsync();
        try
        {
            using var channel = DaemonConnection.Open($"http://127.0.0.1:{grpcPort}");
            await WaitForDaemonAsync(channel, daemon).ConfigureAwait(false);
            progress.Report($"{label}: streaming; a viewer watches while {calls} calls each announce {announced >> 20} MiB and send {payload.Length >> 20} MiB");
            using var stopViewer = new CancellationTokenSource();
            var frames = 0;
            var counting = false;
            var viewer = Task.Run(async () =>
            {
                using var call = channel.Segmentation.StreamMasks(new StreamMasksRequest { ClientName = "viewer" }, cancellationToken: stopViewer.Token);
                while (await call.ResponseStream.MoveNext(stopViewer.Token).ConfigureAwait(false))
                {
                    if (Volatile.Read(ref counting)) Interlocked.Increment(ref frames);
                }
            });
            await Task.Delay(TimeSpan.FromSeconds(2)).ConfigureAwait(false);
            var before = RssMib(daemon.Id);

            var stalled = Enumerable.Range(0, calls).Select(_ => new HeldCall(grpcPort, announced, payload)).ToList();
            Volatile.Write(ref counting, true);
            var peak = before;
            var watch = Stopwatch.StartNew();
            while (watch.Elapsed < TimeSpan.FromSeconds(quick ? 4 : 12))
            {
                peak = Math.Max(peak, RssMib(daemon.Id));
                await Task.Delay(100).ConfigureAwait(false);
            }
            Volatile.Write(ref counting, false);
            var statuses = stalled.Select(c => c.StatusNow()).ToList();
            foreach (var call in stalled) call.Dispose();
            await Task.Delay(TimeSpan.FromSeconds(quick ? 3 : 8)).ConfigureAwait(false);
            var after = RssMib(daemon.Id);
            await stopViewer.CancelAsync().ConfigureAwait(false);
            string? viewerFailed = null;
            try
            {
                await viewer.ConfigureAwait(false);
            }
            catch (RpcException e) when (e.StatusCode != StatusCode.Cancelled)
            {
                viewerFailed = e.Status.ToString();
            }
            catch (Exception e) when (e is RpcException or OperationCanceledException)
            {
            }
            var histogram = statuses.GroupBy(s => s ?? "held").ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
            return new HoldRun(label, calls, statuses.Count(s => s is null), statuses.Count(s => s is not null), histogram,
                before, peak, after, frames, viewerFailed);
        }
        finally
        {
            daemon.Kill(entireProcessTree: true);
            await daemon.WaitForExitAsync().ConfigureAwait(false);
        }
    }

    private static async Task WaitForDaemonAsync(DaemonConnection channel, Process daemon)
    {
        var waited = Stopwatch.StartNew();
        while (true)
        {
            if (daemon.HasExited) throw new InvalidOperationException($"m2s-edged exited with {daemon.ExitCode}");
            try
            {
                await BenchDaemon.WaitUntilStreamingAsync(channel).ConfigureAwait(false);
                return;
            }
            catch (RpcException) when (waited.Elapsed < TimeSpan.FromMinutes(10))
            {
                await Task.Delay(200).ConfigureAwait(false);
            }
        }
    }

    private static double RssMib(int pid)
    {
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (!line.StartsWith("VmRSS:", StringComparison.Ordinal)) continue;
            return double.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024;
        }
        return double.NaN;
    }

    internal static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>One Segment call on a connection of its own that announces a frame, sends part of it and waits.</summary>
    private sealed class HeldCall : IDisposable
    {
        private readonly HttpClient _client = new(new SocketsHttpHandler());
        private readonly CancellationTokenSource _stop = new();
        private readonly Task<HttpResponseMessage> _response;

        public HeldCall(int port, int announced, byte[] payload)
        {
            var content = new HeldContent(announced, payload, _stop.Token);
            content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/grpc");
            var request = new HttpRequestMessage(HttpMethod.Post, $"http://127.0.0.1:{port}/{Segmentation.Descriptor.FullName}/Segment")
            {
                Content = content, Version = HttpVersion.Version20, VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            };
            request.Headers.TryAddWithoutValidation("te", "trailers");
            _response = _client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, _stop.Token);
        }

        /// <summary>The grpc-status the call ended with, or null while the daemon still holds it.</summary>
        public string? StatusNow()
        {
            if (!_response.IsCompletedSuccessfully) return _response.IsCompleted ? "transport error" : null;
            var r = _response.Result;
            if (!r.Headers.TryGetValues("grpc-status", out var h)) return $"HTTP {(int)r.StatusCode}";
            var message = r.Headers.TryGetValues("grpc-message", out var m) ? Uri.UnescapeDataString(m.First()) : "";
            // Which bound ended it, by the setting its status names.
            var bound = new[] { "MaxUnfinishedMessageBytesPerPeer", "MaxUnfinishedMessageBytes", "MessageTimeoutSeconds" }.FirstOrDefault(message.Contains);
            return bound is null ? $"grpc-status {h.First()}" : $"grpc-status {h.First()} ({bound})";
        }

        public void Dispose()
        {
            _stop.Cancel();
            _client.Dispose();
            _stop.Dispose();
        }
    }

    private sealed class HeldContent(int announced, byte[] payload, CancellationToken stop) : HttpContent
    {
        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) => SerializeToStreamAsync(stream, context, CancellationToken.None);

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
        {
            var prefix = new byte[5];
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(prefix.AsSpan(1), (uint)announced);
            using var either = CancellationTokenSource.CreateLinkedTokenSource(stop, cancellationToken);
            try
            {
                await stream.WriteAsync(prefix, either.Token).ConfigureAwait(false);
                await stream.WriteAsync(payload, either.Token).ConfigureAwait(false);
                await stream.FlushAsync(either.Token).ConfigureAwait(false);
                await Task.Delay(Timeout.Infinite, either.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or IOException or HttpRequestException)
            {
            }
        }

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }
}
