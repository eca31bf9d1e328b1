using System.Collections.Concurrent;
using M2SNet.Edge.Grpc;
using M2SNet.Edge.Grpc.Client;
using M2SNet.Edge.Protocol.V1;

namespace M2SNet.Edge.Daemon.Tests;

/// <summary>Model swaps while clients stream: between two frames, nothing lost, every mask from the model it names.</summary>
public sealed class ModelSwapTests(ITestOutputHelper output)
{
    /// <summary>
    /// The test clip at 10 fps: validation shares this machine's two cores with two daemons' pipelines
    /// and the clients, and at 30 fps a scheduling delay alone can make a client miss a frame, which
    /// would hide whether the swap itself loses any.
    /// </summary>
    private static readonly Lazy<string> s_clip = new(() =>
    {
        var path = Path.Combine(Path.GetTempPath(), $"m2s-swap-tests-{Environment.ProcessId}", "clip-10fps.mp4");
        Synthetic.SampleVideo.Write(path, seed: 11, seconds: 6, fps: 10, width: TestVideo.Width, height: TestVideo.Height);
        return path;
    });

    [Fact]
    public async Task Fifty_activations_under_two_streaming_clients_drop_and_misattribute_no_frame()
    {
        await using var daemon = await TestDaemon.StartAsync(TestBundles.Settings(("Daemon:Source:Uri", s_clip.Value)));
        var demo = (await TestBundles.UploadAsync(daemon.Admin, TestBundles.Demo(), stageOnly: true)).Model;
        var constant = (await TestBundles.UploadAsync(daemon.Admin, TestBundles.Constant(), stageOnly: true)).Model;
        Assert.NotEqual(demo.Key, constant.Key);

        var pipelineDropsBefore = await PipelineDrops(daemon);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        var clients = Enumerable.Range(0, 2).Select(i => Task.Run(() => Collect(daemon, $"swap-{i}", stop.Token))).ToArray();
        await Task.Delay(500, TestContext.Current.CancellationToken);

        var times = new List<double>();
        for (var i = 0; i < 50; i++)
        {
            var result = await daemon.Admin.ActivateModelAsync(i % 2 == 0 ? constant.Key : demo.Key, new CallOptions(CancellationToken: TestContext.Current.CancellationToken));
            Assert.True(result.Activated, result.Message);
            times.Add(result.ValidationSeconds);
            // An engineer's pace, not a tight loop: validation shares the two cores with the stream.
            await Task.Delay(100, TestContext.Current.CancellationToken);
        }
        await Task.Delay(500, TestContext.Current.CancellationToken);
        stop.Cancel();
        var received = await Task.WhenAll(clients);
        Assert.Equal(pipelineDropsBefore, await PipelineDrops(daemon));

        foreach (var messages in received)
        {
            Assert.True(messages.Count > 60, $"only {messages.Count} messages arrived");
            var gaps = messages.Zip(messages.Skip(1)).Where(p => p.Second.Sequence != p.First.Sequence + 1)
                .Select(p => $"{p.First.Sequence}({p.First.Model.Id})->{p.Second.Sequence}({p.Second.Model.Id}, client drops {p.Second.DroppedFrames})").ToList();
            Assert.True(gaps.Count == 0, $"sequence gaps: {string.Join(", ", gaps.Take(10))}");
            Assert.All(messages, m => Assert.Equal(0ul, m.DroppedFrames));
            foreach (var m in messages)
            {
                // The constant model calls the whole field of view lesion; the demo model a polyp at most.
                var fieldOfView = m.RegionOfInterest.Width * m.RegionOfInterest.Height * m.Mask.Width * m.Mask.Height / (m.SourceWidth * m.SourceHeight);
                if (m.Model.Id == "constant-lesion") Assert.True(m.Mask.ForegroundPixels >= fieldOfView * 0.98, $"#{m.Sequence} from the constant model has {m.Mask.ForegroundPixels} of {fieldOfView}");
                else Assert.True(m.Mask.ForegroundPixels < fieldOfView * 0.5, $"#{m.Sequence} from {m.Model.Id} has {m.Mask.ForegroundPixels} of {fieldOfView}");
            }
            var switches = messages.Zip(messages.Skip(1)).Count(p => p.First.Model.Id != p.Second.Model.Id);
            output.WriteLine($"{messages.Count} messages, sequences {messages[0].Sequence}..{messages[^1].Sequence}, {switches} model switches seen");
            Assert.True(switches >= 10, $"only {switches} model switches seen in the stream");
        }
        // Both clients were told the same model for every frame they both got.
        var first = received[0].ToDictionary(m => m.Sequence, m => m.Model.Id);
        Assert.All(received[1].Where(m => first.ContainsKey(m.Sequence)), m => Assert.Equal(first[m.Sequence], m.Model.Id));
        times.Sort();
        output.WriteLine($"validation per activation: median {times[times.Count / 2]:F3} s, max {times[^1]:F3} s");
    }

    private static async Task<double> PipelineDrops(TestDaemon daemon)
    {
        var total = 0.0;
        foreach (var stage in new[] { "preprocess", "inference", "postprocess" })
        {
            total += await daemon.MetricAsync("m2s_pipeline_frames_dropped_total", $"before=\"{stage}\"") ?? 0;
        }
        return total;
    }

    private static async Task<List<MaskMessage>> Collect(TestDaemon daemon, string name, CancellationToken stop)
    {
        var messages = new List<MaskMessage>();
        using var call = daemon.Client.StreamMasks(new StreamMasksRequest
        {
            ClientName = name,
            Options = new MaskOptions { Encoding = MaskEncoding.Rle, Width = 160, Height = 90 },
        });
        try
        {
            while (await call.ResponseStream.MoveNext(stop)) messages.Add(call.ResponseStream.Current);
        }
        catch (Exception e) when (stop.IsCancellationRequested && e is OperationCanceledException or RpcException)
        {
        }
        return messages;
    }
}
