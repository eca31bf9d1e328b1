using M2SNet.Edge.TestSupport;

namespace M2SNet.Edge.Video.Tests;

/// <summary>A live stream from a real ffmpeg serving on 127.0.0.1.</summary>
public sealed class NetworkStreamTests(Videos videos) : IClassFixture<Videos>
{
    private static VideoSourceOptions Live(string url) => new()
    {
        Source = VideoSourceSpec.Parse(url),
        ReadTimeout = TimeSpan.FromSeconds(2),
        OpenTimeout = TimeSpan.FromSeconds(5),
        ReconnectMinimum = TimeSpan.FromMilliseconds(200),
        ReconnectMaximum = TimeSpan.FromSeconds(1),
    };

    [Fact]
    public void A_stream_served_by_ffmpeg_delivers_frames()
    {
        var (server, url) = Ffmpeg.ServeHttp(videos.Pal, Ffmpeg.FreePort());
        try
        {
            using var source = new VideoSource(Live(url));
            source.Start();

            var sequences = new List<long>();
            while (sequences.Count < 30 && source.Frames.Take(TestContext.Current.CancellationToken) is { } f)
            {
                using (f)
                {
                    Assert.Equal((720, 576), (f.Width, f.Height));
                    sequences.Add(f.Sequence);
                }
            }

            Assert.Equal(30, sequences.Count);
            Assert.True(sequences.Zip(sequences.Skip(1)).All(p => p.Second > p.First));
            Assert.Equal(VideoSourceKind.Network, source.Spec.Kind);
        }
        finally
        {
            server.Kill();
        }
    }

    [Fact]
    public void A_stream_that_stops_is_reported_lost_and_picked_up_again_without_a_restart()
    {
        var port = Ffmpeg.FreePort();
        var (server, url) = Ffmpeg.ServeHttp(videos.Pal, port);
        using var source = new VideoSource(Live(url));
        try
        {
            source.Start();
            TakeFrames(source, 10);

            server.Kill();
            server.WaitForExit();
            WaitFor(() => source.Events.Any(e => e.Kind == SourceEventKind.SourceLost), TimeSpan.FromSeconds(60));
            WaitFor(() => source.Events.Any(e => e.Kind == SourceEventKind.Reconnecting), TimeSpan.FromSeconds(60));

            (server, _) = Ffmpeg.ServeHttp(videos.Pal, port);
            WaitFor(() => source.Reconnects >= 1, TimeSpan.FromSeconds(60));
            var before = source.FramesRead;
            TakeFrames(source, 10);

            Assert.True(source.FramesRead > before);
            Assert.Contains(source.Events, e => e.Kind == SourceEventKind.Reconnecting && e.Message.Contains("reopening", StringComparison.Ordinal));
        }
        finally
        {
            server.Kill();
        }
    }

    private static void TakeFrames(VideoSource source, int n)
    {
        for (var i = 0; i < n; i++)
        {
            using var f = source.Frames.Take(TestContext.Current.CancellationToken) ?? throw new InvalidOperationException("the source ended");
        }
    }

    private static void WaitFor(Func<bool> condition, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("the condition did not hold in time");
            Thread.Sleep(50);
        }
    }
}
