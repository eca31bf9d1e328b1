using System.Diagnostics;
using Grpc.Health.V1;
using M2SNet.Edge.Client;
using Grpc.Core;
using M2SNet.Edge.Protocol;
using M2SNet.Edge.Protocol.V1;
using M2SNet.Edge.Video;

namespace M2SNet.Edge.Daemon.Tests;

/// <summary>The live stream: the real daemon playing the test clip, real gRPC clients on loopback.</summary>
public sealed class StreamingTests(DaemonFixture fixture)
{
    private readonly TestDaemon _daemon = fixture.Daemon;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static CallOptions Call(int seconds = 60) => new(deadline: DateTime.UtcNow.AddSeconds(seconds), cancellationToken: Ct);

    private static StreamMasksRequest Request(string name, MaskEncoding encoding = MaskEncoding.Rle, bool jpeg = false, uint width = 0, uint height = 0) => new()
    {
        ClientName = name,
        Options = new MaskOptions { Encoding = encoding, IncludeFrameJpeg = jpeg, Width = width, Height = height },
    };

    /// <summary>Reads <paramref name="count"/> messages, stamping each with the monotonic time it arrived.</summary>
    private static async Task<List<(MaskMessage Message, long ReceivedNs)>> ReadAsync(AsyncServerStreamingCall<MaskMessage> call, int count)
    {
        var messages = new List<(MaskMessage, long)>(count);
        while (messages.Count < count && await call.ResponseStream.MoveNext(Ct)) messages.Add((call.ResponseStream.Current, MonotonicClock.NowNs));
        return messages;
    }

    [Fact]
    public async Task Health_is_serving_on_gRPC_and_on_plain_HTTP()
    {
        var health = await _daemon.Health.CheckAsync(new HealthCheckRequest(), Call());
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, health.Status);
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, (await _daemon.Health.CheckAsync(new HealthCheckRequest { Service = "m2snet.edge.v1.Segmentation" }, Call())).Status);
        await StatusAssert.ThrowsAsync(StatusCode.NotFound, () => _daemon.Health.CheckAsync(new HealthCheckRequest { Service = "no.such.Service" }, Call()));
        var healthz = await _daemon.Http.GetAsync("/healthz", Ct);
        Assert.True(healthz.IsSuccessStatusCode);
        Assert.StartsWith("SERVING", await healthz.Content.ReadAsStringAsync(Ct));
    }

    [Fact]
    public async Task Info_names_the_model_the_provider_and_the_source()
    {
        var manifest = M2SNet.Edge.Onnx.ModelManifest.FromJson(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "models", "m2snet-s-demo.json")));
        var info = await _daemon.Client.GetInfoAsync(new GetInfoRequest(), Call());
        Assert.True(info.Ready);
        Assert.Equal(manifest.ModelId, info.Model.Id);
        Assert.Equal(manifest.OnnxSha256, info.Model.OnnxSha256);
        Assert.Equal([1L, 3, 224, 224], info.Model.InputShape);
        Assert.Equal("CPU", info.ExecutionProvider);
        Assert.Equal((uint)TestVideo.Width, info.Source.Width);
        Assert.Equal((uint)TestVideo.Height, info.Source.Height);
        Assert.Equal(30, info.Source.Fps, 1);
        Assert.Equal([MaskEncoding.Bitpacked, MaskEncoding.Rle, MaskEncoding.Png, MaskEncoding.ProbabilityU8, MaskEncoding.None], info.Encodings.Order());
        Assert.Equal(8U * 1024 * 1024, info.MaxReceiveMessageBytes);
    }

    [Fact]
    public async Task Masks_arrive_in_order_with_consistent_timestamps_and_decodable_masks()
    {
        using var call = _daemon.Client.StreamMasks(Request("ordered"), Call());
        var messages = await ReadAsync(call, 45);
        Assert.Equal(45, messages.Count);
        var info = await _daemon.Client.GetInfoAsync(new GetInfoRequest(), Call());
        long foregroundFrames = 0;
        for (var i = 0; i < messages.Count; i++)
        {
            var (m, received) = messages[i];
            if (i > 0)
            {
                Assert.True(m.Sequence > messages[i - 1].Message.Sequence, $"sequence {m.Sequence} after {messages[i - 1].Message.Sequence}");
                Assert.True(m.Timestamps.CaptureNs > messages[i - 1].Message.Timestamps.CaptureNs);
            }
            var t = m.Timestamps;
            long[] chain = [t.CaptureNs, t.PreprocessStartNs, t.PreprocessEndNs, t.InferenceStartNs, t.InferenceEndNs,
                t.PostprocessStartNs, t.PostprocessEndNs, t.PublishNs, t.SendNs, received];
            for (var k = 1; k < chain.Length; k++) Assert.True(chain[k] >= chain[k - 1], $"timestamp {k} of frame {m.Sequence} goes back: [{string.Join(", ", chain)}]");
            Assert.True(m.Stages.InferenceUs > 0);
            Assert.Equal(info.Model.Id, m.Model.Id);
            Assert.Equal((uint)TestVideo.Width, m.SourceWidth);
            Assert.Equal(MaskEncoding.Rle, m.Mask.Encoding);
            Assert.Equal((uint)TestVideo.Width, m.Mask.Width);
            var pixels = Masks.Rle(m.Mask.Counts, (int)m.Mask.Width, (int)m.Mask.Height);
            Assert.Equal((int)m.Mask.ForegroundPixels, MaskCodec.CountForeground(pixels));
            if (m.Mask.ForegroundPixels > 0) foregroundFrames++;
            // The mask lies inside the field of view.
            var roi = m.RegionOfInterest;
            for (var y = 0; y < TestVideo.Height; y += 4)
            for (var x = 0; x < TestVideo.Width; x += 4)
            {
                if (pixels[y * TestVideo.Width + x] != 0) Assert.True(x >= roi.X && x < roi.X + roi.Width && y >= roi.Y && y < roi.Y + roi.Height);
            }
        }
        // The clip always shows a polyp, and the demo model finds it.
        Assert.True(foregroundFrames > messages.Count * 0.8, $"{foregroundFrames} of {messages.Count} masks have foreground");
    }

    [Fact]
    public async Task Two_clients_receive_the_same_frames_and_identical_masks()
    {
        using var a = _daemon.Client.StreamMasks(Request("twin-a", MaskEncoding.Bitpacked), Call());
        using var b = _daemon.Client.StreamMasks(Request("twin-b", MaskEncoding.Bitpacked), Call());
        var readA = Task.Run(() => ReadAsync(a, 40), Ct);
        var readB = Task.Run(() => ReadAsync(b, 40), Ct);
        var (ma, mb) = (await readA, await readB);
        var bySequence = mb.ToDictionary(m => m.Message.Sequence, m => m.Message);
        var common = 0;
        foreach (var (m, _) in ma)
        {
            if (!bySequence.TryGetValue(m.Sequence, out var other)) continue;
            common++;
            Assert.Equal(m.Timestamps.CaptureNs, other.Timestamps.CaptureNs);
            Assert.Equal(m.Mask.Data, other.Mask.Data);
            Assert.Equal(m.Mask.ForegroundPixels, other.Mask.ForegroundPixels);
        }
        Assert.True(common > 0, "no frame reached both clients");
        // A frame one client got and the other did not (within the other's span) was dropped for
        // that other client, and its own counter says so: a busy machine may cost frames, never silently.
        AssertMissedFramesAreCounted(ma, bySequence.Keys.ToHashSet());
        AssertMissedFramesAreCounted(mb, ma.Select(m => m.Message.Sequence).ToHashSet());
    }

    private static void AssertMissedFramesAreCounted(List<(MaskMessage Message, long ReceivedNs)> messages, HashSet<ulong> segmented)
    {
        var account = new StreamAccount();
        foreach (var (m, _) in messages) account.Add(m);
        var first = messages[0].Message.Sequence;
        var last = messages[^1].Message.Sequence;
        var got = messages.Select(m => m.Message.Sequence).ToHashSet();
        var segmentedButMissed = segmented.Count(s => s > first && s < last && !got.Contains(s));
        Assert.Equal(0, account.OutOfOrder);
        Assert.True(segmentedButMissed <= account.DroppedForClient + account.SkippedForClient, $"{segmentedButMissed} frames the other client got are missing here; {account}");
    }

    [Fact]
    public async Task A_client_that_stops_reading_loses_its_own_frames_and_the_other_keeps_receiving()
    {
        // The stalled client asks for the heaviest messages (JPEG frame and full-size probabilities) and reads one.
        using var stalled = _daemon.Client.StreamMasks(Request("stalled", MaskEncoding.ProbabilityU8, jpeg: true), Call());
        Assert.True(await stalled.ResponseStream.MoveNext(Ct));

        // The reader beside it keeps receiving, in order (90 frames: three seconds of the clip, far more
        // than the stalled client's transport buffers can absorb). How fast and how late next to a
        // stalled client, against alone, is the daemon benchmark's figure (m2s-bench daemon).
        using var reader = _daemon.Client.StreamMasks(Request("beside-stalled"), Call(300));
        var messages = await ReadAsync(reader, 90);
        Assert.Equal(90, messages.Count);
        var account = new StreamAccount();
        foreach (var (m, _) in messages) account.Add(m);
        Assert.Equal(0, account.OutOfOrder);

        // The stalled client's own losses are counted where the operator sees them.
        await WaitForAsync(async () => await _daemon.MetricAsync("m2s_client_frames_dropped_total", "client=\"stalled\"") > 0,
            "nothing was counted as dropped for the stalled client");
        stalled.Dispose();
        await WaitForAsync(async () => await _daemon.MetricAsync("m2s_client_frames_dropped_total", "client=\"stalled\"") is null,
            "the stalled client is still listed after it disconnected");
    }

    private static async Task WaitForAsync(Func<Task<bool>> condition, string failure)
    {
        var clock = Stopwatch.StartNew();
        while (!await condition())
        {
            if (clock.Elapsed > TimeSpan.FromSeconds(60)) Assert.Fail(failure);
            await Task.Delay(100, Ct);
        }
    }

    [Fact]
    public async Task Clients_that_disconnect_mid_stream_leave_the_daemon_serving()
    {
        for (var i = 0; i < 5; i++)
        {
            using var call = _daemon.Client.StreamMasks(Request($"leaver-{i}", MaskEncoding.Png, jpeg: true), Call());
            Assert.True(await call.ResponseStream.MoveNext(Ct));
        }
        // A channel closed with calls open: the connection itself goes away.
        using (var channel = DaemonConnection.Open(_daemon.GrpcAddress))
        {
            var call = channel.Segmentation.StreamMasks(Request("vanishing"), Call());
            Assert.True(await call.ResponseStream.MoveNext(Ct));
        }
        await WaitForAsync(async () => await _daemon.MetricAsync("m2s_client_frames_sent_total", "client=\"leaver-") is null
                                      && await _daemon.MetricAsync("m2s_client_frames_sent_total", "client=\"vanishing\"") is null,
            "disconnected clients are still subscribed");
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, (await _daemon.Health.CheckAsync(new HealthCheckRequest(), Call())).Status);
        using var after = _daemon.Client.StreamMasks(Request("after"), Call());
        Assert.Equal(3, (await ReadAsync(after, 3)).Count);
    }

    [Fact]
    public async Task Requested_mask_sizes_and_encodings_agree_with_each_other()
    {
        using var probability = _daemon.Client.StreamMasks(Request("p", MaskEncoding.ProbabilityU8, width: 160, height: 90), Call());
        using var png = _daemon.Client.StreamMasks(Request("png", MaskEncoding.Png, width: 160, height: 90), Call());
        var (mp, mq) = (await ReadAsync(probability, 10), await ReadAsync(png, 10));
        var pngBySequence = mq.ToDictionary(m => m.Message.Sequence, m => m.Message.Mask);
        var compared = 0;
        foreach (var (m, _) in mp)
        {
            Assert.Equal(160 * 90, m.Mask.Data.Length);
            if (!pngBySequence.TryGetValue(m.Sequence, out var p)) continue;
            using var decoded = M2SNet.Edge.OpenCv.Cv2.ImDecode(p.Data.ToByteArray(), M2SNet.Edge.OpenCv.ImreadModes.Grayscale);
            Assert.Equal(160, decoded.Cols);
            var cut = (byte)Math.Round(m.Mask.Threshold * 255);
            var binary = decoded.AsSpan<byte>();
            var probabilities = m.Mask.Data.Span;
            var disagree = 0;
            for (var k = 0; k < binary.Length; k++) if ((binary[k] != 0) != (probabilities[k] > cut)) disagree++;
            Assert.True(disagree <= binary.Length / 500, $"{disagree} pixels disagree between the PNG mask and the thresholded probabilities");
            compared++;
        }
        Assert.True(compared > 0);
    }

    [Fact]
    public async Task Options_the_daemon_cannot_honour_are_INVALID_ARGUMENT_with_the_reason()
    {
        async Task Expect(StreamMasksRequest request, string reason)
        {
            using var call = _daemon.Client.StreamMasks(request, Call());
            await StatusAssert.ThrowsAsync(StatusCode.InvalidArgument, () => call.ResponseStream.MoveNext(Ct), reason);
        }
        await Expect(new StreamMasksRequest { Options = new MaskOptions { Encoding = (MaskEncoding)42 } }, "42");
        await Expect(new StreamMasksRequest { Options = new MaskOptions { Width = 100 } }, "height");
        await Expect(new StreamMasksRequest { Options = new MaskOptions { Width = 100_000, Height = 10 } }, "100000");
        await Expect(new StreamMasksRequest { Options = new MaskOptions { IncludeFrameJpeg = true, JpegQuality = 101 } }, "101");
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, (await _daemon.Health.CheckAsync(new HealthCheckRequest(), Call())).Status);
    }

    [Fact]
    public async Task Metrics_expose_stage_histograms_rates_and_the_model()
    {
        using var call = _daemon.Client.StreamMasks(Request("metrics"), Call());
        await ReadAsync(call, 10);
        var text = await _daemon.Http.GetStringAsync("/metrics", Ct);
        Assert.Contains("# TYPE m2s_stage_latency_seconds histogram", text);
        Assert.Contains("m2s_stage_latency_seconds_bucket{stage=\"inference\",le=\"+Inf\"}", text);
        Assert.Equal(1, await _daemon.MetricAsync("m2s_ready"));
        Assert.True(await _daemon.MetricAsync("m2s_pipeline_fps") > 0);
        Assert.True(await _daemon.MetricAsync("m2s_frames_segmented_total") >= 10);
        Assert.True(await _daemon.MetricAsync("m2s_client_frames_sent_total", "client=\"metrics\"") >= 10);
        Assert.Equal(1, await _daemon.MetricAsync("m2s_model_info", "provider=\"CPU\""));
        var count = await _daemon.MetricAsync("m2s_stage_latency_seconds_count", "stage=\"inference\"");
        var sum = await _daemon.MetricAsync("m2s_stage_latency_seconds_sum", "stage=\"inference\"");
        Assert.InRange(sum!.Value / count!.Value, 1e-4, 1.0); // a mean inference time that is a time
    }
}
