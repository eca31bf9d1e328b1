using M2SNet.Edge.OpenCv;
using M2SNet.Edge.TestSupport;

namespace M2SNet.Edge.Video.Tests;

public sealed class VideoSourceTests(Videos videos) : IClassFixture<Videos>
{
    private static VideoSourceOptions File(string path, bool realtime = false) =>
        new() { Source = VideoSourceSpec.Parse(path), Realtime = realtime };

    private static List<(long Sequence, long CaptureNs, double SourceMs, int W, int H)> Drain(VideoSource source, Action<Frame>? inspect = null)
    {
        var seen = new List<(long, long, double, int, int)>();
        while (source.Frames.Take(TestContext.Current.CancellationToken) is { } frame)
        {
            using (frame)
            {
                inspect?.Invoke(frame);
                seen.Add((frame.Sequence, frame.CaptureTimestampNs, frame.SourceTimestampMs, frame.Width, frame.Height));
            }
        }
        return seen;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Written_videos_read_back_with_consecutive_sequence_numbers_and_rising_timestamps(bool fullHd)
    {
        var path = fullHd ? videos.FullHd : videos.Pal;
        var expected = fullHd ? 30 : 90;
        using var source = new VideoSource(File(path, realtime: true));
        source.Start();

        var frames = Drain(source);

        // Every frame of the file is numbered once, from 1: a frame this reader missed (the machine
        // was busy when it was due, 33 ms) is a gap in the numbers and counted as dropped, never lost.
        Assert.Equal(expected, frames[^1].Sequence);
        Assert.Equal(expected, frames.Count + source.FramesDropped);
        Assert.InRange(frames[0].Sequence, 1, 1 + source.FramesDropped);
        Assert.True(frames.Zip(frames.Skip(1)).All(p => p.Second.Sequence > p.First.Sequence), "sequence numbers do not rise");
        Assert.All(frames, f => Assert.Equal(fullHd ? (1920, 1080) : (720, 576), (f.W, f.H)));
        Assert.True(frames.Zip(frames.Skip(1)).All(p => p.Second.CaptureNs > p.First.CaptureNs && p.Second.SourceMs > p.First.SourceMs));
        Assert.Equal(SourceEventKind.Ended, source.Events[^1].Kind);
    }

    [Fact]
    public void A_three_second_file_in_real_time_takes_no_less_than_three_seconds_and_numbers_every_frame_once()
    {
        using var source = new VideoSource(File(videos.Pal, realtime: true));
        var startNs = MonotonicClock.NowNs;
        source.Start();

        var frames = Drain(source);

        // Frame k (from 0) is read no earlier than k/30 s after the file opened, however loaded the
        // machine is; a busier machine can only make it later. Frames this reader was too busy to
        // take are counted as dropped, so every one of the 90 is accounted for exactly once.
        Assert.Equal(90, frames[^1].Sequence);
        Assert.Equal(90, frames.Count + source.FramesDropped);
        Assert.True(frames.Zip(frames.Skip(1)).All(p => p.Second.Sequence > p.First.Sequence), "sequence numbers do not rise");
        var lastCaptureS = (frames[^1].CaptureNs - startNs) / 1e9;
        Assert.True(lastCaptureS >= 89 / 30.0, $"the last frame was read {lastCaptureS:F3} s after start, before it was due");
    }

    [Fact]
    public void A_slow_reader_gets_the_newest_frame_and_the_rest_are_counted_as_dropped()
    {
        using var source = new VideoSource(File(videos.Pal, realtime: true));
        var startNs = MonotonicClock.NowNs;
        source.Start();

        var frames = Drain(source, _ => Thread.Sleep(100)); // a 10 fps consumer of a 30 fps source
        var elapsedS = (MonotonicClock.NowNs - startNs) / 1e9;

        // Drop-to-latest: no queue builds behind a slow reader. It spent at least 100 ms on each
        // frame it took, so it cannot have taken more than one per 100 ms of the run; the others
        // are counted as dropped, and the file's last frame, the newest, still reaches it.
        Assert.True(frames.Count <= elapsedS / 0.1 + 1, $"{frames.Count} frames taken in {elapsedS:F2} s at 100 ms each");
        Assert.True(source.FramesDropped > 0, "a reader at a third of the source's rate saw every frame");
        Assert.Equal(90 - frames.Count, source.FramesDropped);
        Assert.True(frames.Zip(frames.Skip(1)).All(p => p.Second.Sequence > p.First.Sequence), "sequence numbers do not rise");
        Assert.Equal(90, frames[^1].Sequence);
    }

    [Fact]
    public void Frames_reuse_their_buffers_in_steady_state()
    {
        using var source = new VideoSource(File(videos.Pal));
        source.Start();

        Drain(source);

        Assert.InRange(source.FramesAllocated, 1, 4);
    }

    [Fact]
    public void A_looping_file_starts_again_at_its_end()
    {
        using var source = new VideoSource(File(videos.FullHd) with { Loop = true });
        source.Start();
        var seen = 0;
        while (seen < 45 && source.Frames.Take(TestContext.Current.CancellationToken) is { } f)
        {
            f.Dispose();
            seen++;
        }

        Assert.Equal(45, seen);
        Assert.True(source.Loops >= 1, "the file should have started again");
        // Starting again is not a state change: opened once, never ended or lost.
        Assert.Equal([SourceEventKind.Opened], source.Events.Select(e => e.Kind));
    }

    [Fact]
    public void Automatic_region_of_interest_crops_the_black_border()
    {
        using var source = new VideoSource(File(videos.Pal) with { RegionOfInterest = RegionOfInterestMode.Auto });
        source.Start();
        Rect roi = default;

        Drain(source, f => roi = f.RegionOfInterest);

        // The synthetic endoscope's octagon fills the frame but its corners are black: the box is
        // the octagon's (nearly the whole frame), never more.
        Assert.InRange(roi.Width, 600, 720);
        Assert.InRange(roi.Height, 480, 576);
    }

    [Fact]
    public void The_field_of_view_found_again_off_the_frames_time_matches_the_full_frame_measure()
    {
        // Paced as a camera, so the reader sees every frame whatever the machine's load.
        using var source = new VideoSource(File(videos.Pal, realtime: true) with { RegionOfInterest = RegionOfInterestMode.Auto });
        source.Start();
        var regions = new Dictionary<long, Rect>();

        Drain(source, f => regions[f.Sequence] = f.RegionOfInterest);

        // Frames 1-30 carry the region measured on frame 1 as a whole; frames from 31 on, the one
        // measured on a quarter of frame 30 (60, 90) kept while it went on: the same box to within a
        // probe pixel (4) and the detector's own 4x step.
        Assert.Contains(regions.Keys, k => k <= 30);
        Assert.Contains(regions.Keys, k => k >= 31);
        var full = regions[regions.Keys.Where(k => k <= 30).Min()];
        var probed = regions[regions.Keys.Where(k => k >= 31).Min()];
        Assert.InRange(Math.Abs(probed.X - full.X), 0, 16);
        Assert.InRange(Math.Abs(probed.Y - full.Y), 0, 16);
        Assert.InRange(Math.Abs(probed.Width - full.Width), 0, 32);
        Assert.InRange(Math.Abs(probed.Height - full.Height), 0, 32);
    }

    [Fact]
    public void The_capture_thread_and_the_decoders_it_opens_run_DecodeNice_steps_nicer()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "nice values are Linux's");
        var own = ThreadNice.Current()!.Value;
        using var source = new VideoSource(File(videos.FullHd, realtime: true) with { DecodeNice = 3 });
        source.Start();
        using (source.Frames.Take(TestContext.Current.CancellationToken)) { }

        // Threads take their creator's name on Linux, so the decoder's threads are "video-capture"
        // too. Sources of tests running beside this one have theirs at the process's nice value.
        var niced = ThreadsNamed("video-capture").Count(nice => nice == Math.Min(19, own + 3));
        Assert.True(niced >= (Environment.ProcessorCount > 1 ? 2 : 1), $"{niced} capture and decoder threads at nice {own + 3}");
    }

    /// <summary>Nice values of this process's threads with the given name (field 19 of /proc/self/task/N/stat).</summary>
    private static List<int> ThreadsNamed(string name) => Directory.GetDirectories("/proc/self/task")
        .Where(t => System.IO.File.ReadAllText(Path.Combine(t, "comm")).Trim() == name)
        .Select(t => System.IO.File.ReadAllText(Path.Combine(t, "stat")))
        .Select(stat => int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[16], System.Globalization.CultureInfo.InvariantCulture))
        .ToList();
}

public sealed class FaultTests(Videos videos) : IClassFixture<Videos>
{
    [Fact]
    public void A_missing_file_is_a_clear_error()
    {
        using var source = new VideoSource(new VideoSourceOptions { Source = VideoSourceSpec.Parse("/nonexistent/case.mp4") });

        var e = Assert.Throws<VideoSourceException>(source.Start);

        Assert.Equal("video file not found: /nonexistent/case.mp4", e.Message);
    }

    [Fact]
    public void An_absent_capture_device_is_a_clear_error()
    {
        using var source = new VideoSource(new VideoSourceOptions { Source = VideoSourceSpec.Parse("/dev/video42") });

        var e = Assert.Throws<VideoSourceException>(source.Start);

        Assert.StartsWith("no capture device at /dev/video42", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("ftp://camera/stream")]
    [InlineData("rtsp://")]
    public void A_malformed_address_is_refused(string address)
    {
        Assert.Throws<ArgumentException>(() => VideoSourceSpec.Parse(address));
    }

    [Fact]
    public void A_file_that_is_not_a_video_is_refused()
    {
        var path = Path.Combine(videos.Directory.FullName, "notes.mp4");
        System.IO.File.WriteAllText(path, "this is not a video");
        using var source = new VideoSource(new VideoSourceOptions { Source = VideoSourceSpec.Parse(path) });

        var e = Assert.Throws<VideoSourceException>(source.Start);

        Assert.Contains("cannot open", e.Message);
    }

    [Fact]
    public void A_truncated_file_ends_early_with_the_reason()
    {
        var fastStart = Path.Combine(videos.Directory.FullName, "faststart.mp4");
        Ffmpeg.Run($"-y -i {videos.Pal} -c copy -movflags +faststart {fastStart}");
        var bytes = System.IO.File.ReadAllBytes(fastStart);
        var truncated = Path.Combine(videos.Directory.FullName, "truncated.mp4");
        System.IO.File.WriteAllBytes(truncated, bytes[..(bytes.Length / 2)]);
        using var source = new VideoSource(new VideoSourceOptions { Source = VideoSourceSpec.Parse(truncated), Realtime = false });
        source.Start();

        var frames = 0;
        while (source.Frames.Take(TestContext.Current.CancellationToken) is { } f)
        {
            f.Dispose();
            frames++;
        }

        Assert.InRange(frames, 1, 89);
        var lost = source.Events[^1];
        Assert.Equal(SourceEventKind.SourceLost, lost.Kind);
        Assert.Contains("of 90 frames (truncated or corrupt)", lost.Message);
    }

    [Fact]
    public void A_frame_of_another_size_is_reported()
    {
        var dir = Directory.CreateDirectory(Path.Combine(videos.Directory.FullName, "sequence")).FullName;
        for (var i = 0; i < 6; i++)
        {
            using var m = i < 3 ? new Mat(48, 64, MatType.CV_8UC3) : new Mat(32, 32, MatType.CV_8UC3);
            m.SetTo(new Scalar(40 * i, 80, 120));
            Cv2.ImWrite(Path.Combine(dir, $"img_{i:D3}.png"), m);
        }
        using var source = new VideoSource(new VideoSourceOptions { Source = VideoSourceSpec.Parse(Path.Combine(dir, "img_%03d.png")), Realtime = true });
        source.Start();

        var sizes = new List<(int, int)>();
        while (source.Frames.Take(TestContext.Current.CancellationToken) is { } f)
        {
            using (f) sizes.Add((f.Width, f.Height));
        }

        Assert.Equal([(64, 48), (64, 48), (64, 48), (32, 32), (32, 32), (32, 32)], sizes);
        var changed = Assert.Single(source.Events, e => e.Kind == SourceEventKind.FrameSizeChanged);
        Assert.Equal("frames changed from 64x48 to 32x32", changed.Message);
    }
}
