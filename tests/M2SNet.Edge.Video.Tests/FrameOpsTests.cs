using M2SNet.Edge.OpenCv;

namespace M2SNet.Edge.Video.Tests;

public sealed class FrameOpsTests
{
    private static Mat RandomFrame(int w, int h, int seed)
    {
        var m = new Mat(h, w, MatType.CV_8UC3);
        new Random(seed).NextBytes(m.AsSpan<byte>());
        return m;
    }

    [Theory]
    [InlineData(1920, 1080, 352)]
    [InlineData(720, 576, 224)]
    public void Preprocessing_matches_a_direct_computation(int w, int h, int size)
    {
        using var frame = RandomFrame(w, h, 1);
        var roi = new Rect(w / 10, h / 12, w * 7 / 10, h * 3 / 4);
        var actual = new float[3 * size * size];

        FrameOps.Preprocess(frame, roi, size, size, Normalization.ImageNetMean, Normalization.ImageNetStd, actual);

        // Bilinear with half-pixel centres over the crop, then RGB order and ImageNet normalisation.
        var px = frame.AsSpan<byte>().ToArray();
        double maxDiff = 0;
        for (var y = 0; y < size; y += 7)
        for (var x = 0; x < size; x += 5)
        {
            var sy = Math.Clamp((y + 0.5) * roi.Height / size - 0.5, 0, roi.Height - 1);
            var sx = Math.Clamp((x + 0.5) * roi.Width / size - 0.5, 0, roi.Width - 1);
            int y0 = (int)sy, x0 = (int)sx, y1 = Math.Min(y0 + 1, roi.Height - 1), x1 = Math.Min(x0 + 1, roi.Width - 1);
            double fy = sy - y0, fx = sx - x0;
            for (var c = 0; c < 3; c++)
            {
                double At(int yy, int xx) => px[((roi.Y + yy) * w + roi.X + xx) * 3 + (2 - c)];
                var v = (1 - fy) * ((1 - fx) * At(y0, x0) + fx * At(y0, x1)) + fy * ((1 - fx) * At(y1, x0) + fx * At(y1, x1));
                var expected = (v / 255 - Normalization.ImageNetMean[c]) / Normalization.ImageNetStd[c];
                maxDiff = Math.Max(maxDiff, Math.Abs(expected - actual[c * size * size + y * size + x]));
            }
        }
        Assert.True(maxDiff <= 0.02, $"max |diff| {maxDiff:F4}");
    }

    [Fact]
    public void A_region_outside_the_frame_is_refused()
    {
        using var frame = RandomFrame(64, 48, 2);

        Assert.Throws<ArgumentException>(() => FrameOps.Preprocess(frame, new Rect(10, 10, 64, 48), 32, 32,
            Normalization.ImageNetMean, Normalization.ImageNetStd, new float[3 * 32 * 32]));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Scores_become_a_mask_at_the_source_size_inside_the_region(bool logits)
    {
        // Left half lesion, right half background, on a 4x4 network output.
        var scores = new float[16];
        for (var i = 0; i < 16; i++) scores[i] = (i % 4 < 2) == logits ? (logits ? 4f : 0.98f) : (logits ? -4f : 0.02f);
        if (!logits) for (var i = 0; i < 16; i++) scores[i] = i % 4 < 2 ? 0.98f : 0.02f;
        using var mask = new Mat();

        FrameOps.ScoresToMap(scores, 4, 4, logits, binary: true, 0.5, new Rect(20, 10, 40, 20), new Size(100, 50), mask);

        Assert.Equal((100, 50), (mask.Cols, mask.Rows));
        var m = mask.AsSpan<byte>();
        Assert.Equal(0, m[5 * 100 + 25]); // above the region
        Assert.Equal(logits ? 255 : 255, m[20 * 100 + 25]); // inside, left half
        Assert.Equal(0, m[20 * 100 + 55]); // inside, right half
    }

    [Fact]
    public void Probability_maps_hold_the_sigmoid_times_255()
    {
        float[] logits = [0f, 0f, 0f, 0f];
        using var map = new Mat();

        FrameOps.ScoresToMap(logits, 2, 2, areLogits: true, binary: false, 0.5, new Rect(0, 0, 8, 8), new Size(8, 8), map);

        Assert.All(map.AsSpan<byte>().ToArray(), v => Assert.InRange(v, 127, 128));
    }

    [Fact]
    public void Overlay_tints_only_the_mask_and_outlines_it()
    {
        using var frame = new Mat(40, 40, MatType.CV_8UC3);
        frame.SetTo(new Scalar(100, 100, 100));
        using var mask = new Mat(40, 40, MatType.CV_8UC1);
        Cv2.Rectangle(mask, new Point(10, 10), new Size(20, 20), new Scalar(255), -1);
        using var tinted = new Mat();
        using var outlined = new Mat();

        FrameOps.Overlay(frame, mask, new Scalar(0, 0, 255), 0.5, 0, tinted);
        FrameOps.Overlay(frame, mask, new Scalar(0, 255, 0), 0, 2, outlined);

        var t = tinted.AsSpan<byte>();
        Assert.Equal([50, 50, 178], t.Slice((20 * 40 + 20) * 3, 3).ToArray());
        Assert.Equal([100, 100, 100], t.Slice((2 * 40 + 2) * 3, 3).ToArray());
        var o = outlined.AsSpan<byte>();
        Assert.Equal([100, 100, 100], o.Slice((20 * 40 + 20) * 3, 3).ToArray()); // the inside is untouched
        Assert.True(o[(10 * 40 + 20) * 3 + 1] > 200); // the edge is green
    }

    [Fact]
    public void Frames_encode_to_PNG_and_JPEG_that_decode_again()
    {
        using var frame = RandomFrame(32, 24, 3);

        var png = Cv2.ImEncode(".png", frame);
        var jpg = Cv2.ImEncode(".jpg", frame, Cv2.ImwriteJpegQuality, 90);
        using var back = Cv2.ImDecode(png);

        Assert.Equal(frame.AsSpan<byte>().ToArray(), back.AsSpan<byte>().ToArray());
        Assert.Equal([0xFF, 0xD8], jpg[..2]);
    }

    [Fact]
    public void A_corrupt_image_is_an_error_not_a_crash()
    {
        var e = Assert.Throws<OpenCvException>(() => Cv2.ImDecode(new byte[] { 0xFF, 0xD8, 0x00, 0x01, 0x02 }));

        Assert.Contains("not a decodable image", e.Message);
    }

    [Fact]
    public void The_writer_refuses_a_frame_of_another_size()
    {
        var path = Path.Combine(Path.GetTempPath(), $"m2s-writer-{Guid.NewGuid():N}.mp4");
        try
        {
            using var writer = new VideoWriter(path, FourCC.FromString("mp4v"), 30, new Size(64, 48));
            using var wrong = new Mat(32, 32, MatType.CV_8UC3);

            Assert.Throws<ArgumentException>(() => writer.Write(wrong));
        }
        finally
        {
            File.Delete(path);
        }
    }
}

public sealed class LatestSlotTests
{
    private sealed class Item(int id) : IDisposable
    {
        public int Id { get; } = id;
        public bool Disposed { get; private set; }
        public void Dispose() => Disposed = true;
    }

    [Fact]
    public void Publishing_over_an_unread_item_drops_it()
    {
        using var slot = new LatestSlot<Item>();
        var a = new Item(1);
        var b = new Item(2);

        slot.Publish(a);
        slot.Publish(b);

        Assert.True(a.Disposed);
        Assert.Equal(1, slot.Dropped);
        Assert.True(slot.TryTake(out var taken));
        Assert.Same(b, taken);
        Assert.False(slot.TryTake(out _));
    }

    [Fact]
    public async Task A_waiting_reader_wakes_for_the_next_item_and_ends_with_completion()
    {
        using var slot = new LatestSlot<Item>();
        var reader = slot.TakeAsync(TestContext.Current.CancellationToken).AsTask();

        slot.Publish(new Item(7));
        var item = await reader;
        slot.Complete();

        Assert.Equal(7, item!.Id);
        Assert.Null(await slot.TakeAsync(TestContext.Current.CancellationToken));
        Assert.False(slot.Publish(new Item(8)));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_blocked_reader_gets_every_item_that_was_not_replaced_and_wakes_for_completion(bool lockFreeWake)
    {
        const int count = 20_000;
        using var slot = new LatestSlot<Item>(lockFreeWake);
        var cancel = TestContext.Current.CancellationToken;
        var taken = 0;
        var lastId = -1;
        var reader = Task.Factory.StartNew(() =>
        {
            while (slot.Take(cancel) is { } item)
            {
                Assert.True(item.Id > lastId, "items arrive in order");
                Assert.False(item.Disposed);
                lastId = item.Id;
                taken++;
                if (item.Id % 7 == 0) Thread.Yield();
            }
        }, cancel, TaskCreationOptions.LongRunning, TaskScheduler.Default);

        for (var i = 0; i < count; i++)
        {
            slot.Publish(new Item(i));
            if (i % 5 == 0) Thread.Yield();
        }
        slot.Complete();
        // A lost wake-up leaves the reader asleep: fail then rather than hang the suite.
        await reader.WaitAsync(TimeSpan.FromMinutes(2), cancel);

        Assert.Equal(count, taken + slot.Dropped);
        Assert.Equal(count - 1, lastId);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_blocked_reader_ends_when_cancelled(bool lockFreeWake)
    {
        using var slot = new LatestSlot<Item>(lockFreeWake);
        using var stop = new CancellationTokenSource();
        var waiting = new ManualResetEventSlim();
        var reader = Task.Factory.StartNew(() =>
        {
            waiting.Set();
            return slot.Take(stop.Token);
        }, TestContext.Current.CancellationToken, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        waiting.Wait(TestContext.Current.CancellationToken);

        await stop.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => reader.WaitAsync(TimeSpan.FromMinutes(2), TestContext.Current.CancellationToken));
        Assert.Equal(0, slot.Published);
    }
}

public sealed class WakeSignalTests
{
    [Fact]
    public void A_sleeper_returns_once_the_counter_moves_and_at_once_if_it_already_has()
    {
        var signal = new WakeSignal();
        var seen = signal.Generation;
        var woke = false;
        var sleeper = new Thread(() => woke = signal.Wait(seen, null, TestContext.Current.CancellationToken));
        sleeper.Start();

        signal.Wake();

        Assert.True(sleeper.Join(TimeSpan.FromMinutes(2)), "the sleeper was not woken");
        Assert.True(woke);
        Assert.Equal(seen + 1, signal.Generation);
        Assert.True(signal.Wait(seen, TimeSpan.Zero, TestContext.Current.CancellationToken));
    }

    [Fact]
    public void Without_a_wake_the_sleeper_returns_false_at_its_timeout()
    {
        var signal = new WakeSignal();

        Assert.False(signal.Wait(signal.Generation, TimeSpan.FromMilliseconds(20), TestContext.Current.CancellationToken));
        Assert.False(signal.Wait(signal.Generation, TimeSpan.Zero, TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task Cancelling_wakes_the_sleeper_with_an_exception()
    {
        var signal = new WakeSignal();
        using var stop = new CancellationTokenSource();
        var seen = signal.Generation;
        var sleeper = Task.Factory.StartNew(() => signal.Wait(seen, null, stop.Token),
            TestContext.Current.CancellationToken, TaskCreationOptions.LongRunning, TaskScheduler.Default);

        await stop.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => sleeper.WaitAsync(TimeSpan.FromMinutes(2), TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task Many_wakes_against_many_sleeps_lose_none()
    {
        // A sleeper that checks, then sleeps: every wake after its check must end its sleep.
        var signal = new WakeSignal();
        var flag = 0;
        const int rounds = 5_000;
        var cancel = TestContext.Current.CancellationToken;
        var sleeper = Task.Factory.StartNew(() =>
        {
            for (var i = 1; i <= rounds; i++)
            {
                while (true)
                {
                    var seen = signal.Generation;
                    if (Volatile.Read(ref flag) >= i) break;
                    signal.Wait(seen, null, cancel);
                }
            }
        }, cancel, TaskCreationOptions.LongRunning, TaskScheduler.Default);

        for (var i = 1; i <= rounds; i++)
        {
            Volatile.Write(ref flag, i);
            signal.Wake();
            if (i % 3 == 0) Thread.Yield();
        }
        await sleeper.WaitAsync(TimeSpan.FromMinutes(2), cancel);

        Assert.Equal(rounds, Volatile.Read(ref flag));
    }
}
