using System.Net;
using Grpc.Core;
using Grpc.Health.V1;
using M2SNet.Edge.Protocol.V1;
using M2SNet.Edge.TestSupport;

namespace M2SNet.Edge.Daemon.Tests;

/// <summary>D6: a daemon without video says so everywhere, and serves again once frames flow.</summary>
public sealed class LostSourceTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task D6_no_video_is_NOT_SERVING_with_the_reason_until_the_source_streams()
    {
        var dir = Directory.CreateTempSubdirectory("m2s-nosource-").FullName;
        var video = Path.Combine(dir, "later.mp4");
        await using var daemon = await TestDaemon.StartAsync(new Dictionary<string, string?> { ["Daemon:Source:Uri"] = video }, waitUntilServing: false);

        // The model comes up; the video does not.
        // Polled, not timed: at most 1200 looks, for the model to load and the first open to fail.
        var info = await daemon.Client.GetInfoAsync(new GetInfoRequest(), cancellationToken: Ct);
        for (var look = 0; look < 1200 && (info.Model is null || !info.NotReadyReason.Contains("later.mp4", StringComparison.Ordinal)); look++)
        {
            await Task.Delay(50, Ct);
            info = await daemon.Client.GetInfoAsync(new GetInfoRequest(), cancellationToken: Ct);
        }
        Assert.NotNull(info.Model);
        Assert.False(info.Ready);
        Assert.StartsWith("no video:", info.NotReadyReason);
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.NotServing,
            (await daemon.Health.CheckAsync(new HealthCheckRequest(), cancellationToken: Ct)).Status);
        using (var healthz = await daemon.Http.GetAsync("/healthz", Ct))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, healthz.StatusCode);
            Assert.Contains("later.mp4", await healthz.Content.ReadAsStringAsync(Ct));
        }
        // A viewer is not left waiting in silence: it hears why there is nothing to stream.
        using (var viewer = daemon.Client.StreamMasks(new StreamMasksRequest(), cancellationToken: Ct))
        {
            var refused = await Assert.ThrowsAsync<RpcException>(() => viewer.ResponseStream.MoveNext(Ct));
            Assert.Equal(StatusCode.Unavailable, refused.StatusCode);
            Assert.Contains("later.mp4", refused.Status.Detail);
        }

        // The camera is plugged in: the daemon finds it on its next try and serves.
        File.Copy(TestVideo.Path_, video);
        await daemon.WaitUntilServingAsync();
        info = await daemon.Client.GetInfoAsync(new GetInfoRequest(), cancellationToken: Ct);
        Assert.True(info.Ready);
        Assert.Equal("", info.NotReadyReason);
        Directory.Delete(dir, recursive: true);
    }
}

/// <summary>D6 while streaming: viewers of a live source that is cut hear why at once, and get frames again once it is back.</summary>
public sealed class SourceCutTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task D6_a_live_source_that_is_cut_ends_the_streams_with_UNAVAILABLE_and_the_reason()
    {
        var port = Ffmpeg.FreePort();
        var (server, url) = Ffmpeg.ServeHttp(TestVideo.Path_, port);
        try
        {
            await using var daemon = await TestDaemon.StartAsync(new Dictionary<string, string?> { ["Daemon:Source:Uri"] = url });
            using var viewer = daemon.Client.StreamMasks(new StreamMasksRequest { ClientName = "or-monitor" }, cancellationToken: Ct);
            Assert.True(await viewer.ResponseStream.MoveNext(Ct));
            using var page = await daemon.Http.GetAsync("/view/stream", HttpCompletionOption.ResponseHeadersRead, Ct);
            using var events = new StreamReader(await page.Content.ReadAsStreamAsync(Ct));

            server.Kill();
            await server.WaitForExitAsync(Ct);

            // The viewer reads on through the frames already on their way, then hears why the picture stopped
            // (a daemon that left it waiting in silence fails here: CANCELLED after two minutes).
            using var patience = CancellationTokenSource.CreateLinkedTokenSource(Ct);
            patience.CancelAfter(TimeSpan.FromMinutes(2));
            var e = await Assert.ThrowsAsync<RpcException>(async () =>
            {
                while (await viewer.ResponseStream.MoveNext(patience.Token))
                {
                }
            });
            Assert.Equal(StatusCode.Unavailable, e.StatusCode);
            Assert.StartsWith("no video: the source is lost", e.Status.Detail);
            Assert.Equal(HealthCheckResponse.Types.ServingStatus.NotServing, (await daemon.Health.CheckAsync(new HealthCheckRequest(), cancellationToken: Ct)).Status);
            string? line;
            while ((line = await events.ReadLineAsync(Ct)) is not null && line != "event: status")
            {
            }
            Assert.Equal("event: status", line);
            Assert.Contains("no video", await events.ReadLineAsync(Ct));

            // A viewer that asks meanwhile is told the same at once; once the stream is back, frames flow.
            (server, _) = Ffmpeg.ServeHttp(TestVideo.Path_, port);
            await daemon.WaitUntilServingAsync();
            using var again = daemon.Client.StreamMasks(new StreamMasksRequest { ClientName = "or-monitor" }, cancellationToken: Ct);
            Assert.True(await again.ResponseStream.MoveNext(Ct));
        }
        finally
        {
            server.Kill();
        }
    }
}
