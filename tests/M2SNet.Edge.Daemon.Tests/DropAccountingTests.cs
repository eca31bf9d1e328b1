using M2SNet.Edge.Daemon.Pipeline;
using M2SNet.Edge.Daemon.Streaming;
using M2SNet.Edge.OpenCv;
using M2SNet.Edge.Protocol.V1;

namespace M2SNet.Edge.Daemon.Tests;

/// <summary>
/// A frame a client misses is counted against whoever held it back (issue 17, minor): the client
/// when the daemon was still writing the previous one to it (it reads slowly: dropped_frames), the
/// daemon when nothing was being written (its sending side was busy, e.g. under Segment load).
/// </summary>
public sealed class DropAccountingTests
{
    private static SegmentationResult Result(long sequence)
    {
        using var image = new Mat(8, 8, MatType.CV_8UC3);
        var frame = Video.Frame.Standalone(image, sequence, sequence * 1000);
        return new SegmentationResult(frame, SegmentationResult.ScorePool.Rent(64), 8, 8, new Mat(8, 8, MatType.CV_8UC1),
            new ModelIdentity("test", "1", OutputsLogits: true, Threshold: 0.5), new Presentation(true, false), default);
    }

    private static (MaskPublisher Publisher, Subscriber Subscriber) Subscribed()
    {
        var publisher = new MaskPublisher(4);
        var options = ClientMaskOptions.Resolve(new MaskOptions { Encoding = MaskEncoding.Bitpacked }, new Configuration.StreamOptions(), new Configuration.LimitOptions());
        return (publisher, publisher.Subscribe("or-monitor", "ipv4:127.0.0.1:5000", options));
    }

    [Fact]
    public void Frames_replaced_while_a_write_to_the_client_is_in_progress_are_the_clients_drops()
    {
        var (publisher, subscriber) = Subscribed();
        using (subscriber)
        using (subscriber.Writing())
        {
            for (var i = 1; i <= 4; i++) publisher.Publish(Result(i));

            Assert.Equal(3, subscriber.Dropped);
            Assert.Equal(0, subscriber.Skipped);
        }
    }

    [Fact]
    public void Frames_replaced_while_nothing_is_written_to_the_client_are_the_daemons_skips()
    {
        var (publisher, subscriber) = Subscribed();
        using (subscriber)
        {
            for (var i = 1; i <= 4; i++) publisher.Publish(Result(i));

            Assert.Equal(0, subscriber.Dropped);
            Assert.Equal(3, subscriber.Skipped);
        }
    }

    [Fact]
    public async Task A_client_that_takes_every_frame_misses_none()
    {
        var (publisher, subscriber) = Subscribed();
        using (subscriber)
        {
            for (var i = 1; i <= 4; i++)
            {
                publisher.Publish(Result(i));
                using var lease = await subscriber.NextAsync(TestContext.Current.CancellationToken);
                using (subscriber.Writing()) Assert.Equal(i, lease!.Result.Sequence);
                subscriber.CountSent();
            }

            Assert.Equal((4, 0, 0), (subscriber.Sent, subscriber.Dropped, subscriber.Skipped));
        }
    }
}
