using M2SNet.Edge.Bench;

namespace M2SNet.Edge.Bench.Tests;

public sealed class QuickBenchmarkTests
{
    [Fact]
    public void Ort_latency_quick_run_reports_every_variant_and_the_ratio()
    {
        var progress = new List<string>();

        var report = OrtLatencyBenchmark.Run(quick: true, threads: 2, progress.Add);

        Assert.Equal(
            new[] { OrtLatencyBenchmark.Noop, OrtLatencyBenchmark.Model, OrtLatencyBenchmark.ModelAllocatingOutputs }.Order(),
            report.Variants.Keys.Order());
        Assert.All(report.Variants.Values, s => Assert.True(s.Count == 20 && s.Min > 0 && s.Min <= s.Median && s.Median <= s.P99 && s.P99 <= s.Max));
        Assert.Equal(report.Variants[OrtLatencyBenchmark.Model].Median / report.Variants[OrtLatencyBenchmark.Noop].Median, report.ModelToNoopRatio, 1e-9);
        Assert.NotEmpty(progress);
    }

    [Fact]
    public void Torch_model_quick_run_times_both_forms_of_the_fixed_convolution()
    {
        var report = TorchModelBenchmark.Run(quick: true, threads: 2, _ => { });

        Assert.Equal(8, report.Variants.Count);
        Assert.Equal(["forward_b1", "forward_b2", "train_step_b1", "train_step_b2"], report.RewriteSpeedup.Keys.Order());
        Assert.All(report.Variants.Values, s => Assert.True(s.Count == 2 && s.Min > 0));
        Assert.Equal(report.Variants["forward_b2_naive"].Median / report.Variants["forward_b2_rewritten"].Median, report.RewriteSpeedup["forward_b2"], 1e-9);
    }

    [Fact]
    public void Export_latency_quick_run_compares_the_optimised_and_naive_graphs()
    {
        var report = ExportLatencyBenchmark.Run(quick: true, threads: 2, _ => { });

        Assert.Equal([ExportLatencyBenchmark.Naive, ExportLatencyBenchmark.Optimised], report.Variants.Keys.Order());
        Assert.Equal(report.Variants[ExportLatencyBenchmark.Naive].Median / report.Variants[ExportLatencyBenchmark.Optimised].Median, report.Speedup, 1e-9);
        Assert.True(report.MaxAbsLogitDiff <= 1e-3 * Math.Max(1, report.LogitAbsMax));
        Assert.True(report.Nodes[ExportLatencyBenchmark.Optimised] > 0);
    }

    [Fact]
    public void Precision_quick_run_times_three_forms_of_every_network_and_scores_the_demo_model()
    {
        var demo = Path.Combine(TestSupport.Reference.RepositoryRoot(), "models", "m2snet-s-demo.onnx");
        var report = PrecisionBenchmark.Run(quick: true, threads: 2, demo, _ => { });

        Assert.Equal(PrecisionBenchmark.Architectures, report.Models.Select(m => m.Architecture));
        Assert.All(report.Models, m =>
        {
            Assert.Equal([PrecisionBenchmark.Float32, PrecisionBenchmark.Int8, PrecisionBenchmark.Naive], m.Variants.Keys.Order());
            Assert.Equal(m.Variants[PrecisionBenchmark.Naive].Median / m.Variants[PrecisionBenchmark.Int8].Median, m.Int8VsNaive, 1e-9);
            Assert.True(m.Int8Layers > 0);
            Assert.True(m.Bytes[PrecisionBenchmark.Int8] < m.Bytes[PrecisionBenchmark.Float32], "int8 weights take a quarter of the room");
        });
        Assert.NotNull(report.Demo);
        Assert.True(report.Demo.Drop <= 0.01, $"the demo model loses {report.Demo.Drop} mDice in int8");
        Assert.Contains(report.Profile, op => op.Op == "QLinearConv");
        Assert.Equal(1, report.Profile.Sum(op => op.Share), 1e-6);
    }

    [Fact]
    public async Task Pipeline_tail_quick_run_streams_through_both_layouts_and_reports_their_overhead()
    {
        var report = await PipelineTailBenchmark.RunAsync(quick: true, new SyncProgress(_ => { }));

        Assert.Equal(1, report.Rounds);
        foreach (var layout in new[] { report.Before, report.After })
        {
            var run = Assert.Single(layout.Runs);
            Assert.True(run.Frames > 0, $"{layout.Name}: no frames");
            Assert.True(layout.Overhead.P50 <= layout.Overhead.P95 && layout.Overhead.P95 <= layout.Overhead.P99);
        }
        Assert.Equal("false", report.Before.Settings["Daemon:Pipeline:PreprocessOnInferenceThread"]);
        Assert.Equal(report.After.Overhead.P99 / report.Before.Overhead.P99, report.P99Ratio, 1e-9);
    }

    [Fact]
    public void Data_parallel_quick_run_trains_on_one_and_two_ranks_and_reports_the_efficiency()
    {
        Assert.SkipUnless(Torch.Distributed.ProcessGroup.IsAvailable("gloo"), "the shim was built without gloo");
        var report = DataParallelBenchmark.Run(quick: true, _ => { });

        Assert.Equal([1, 2], report.SamplesPerSecond.Keys.Order());
        Assert.All(report.SamplesPerSecond.Values, rate => Assert.True(rate > 0));
        var round = Assert.Single(report.RoundEfficiencies);
        Assert.Equal(report.SamplesPerSecond[2] / (2 * report.SamplesPerSecond[1]), round, 1e-9);
        Assert.Equal(round, report.Efficiency);
    }

    [Fact]
    public void Train_step_quick_run_reports_images_per_second_for_both_forms()
    {
        var report = TrainStepBenchmark.Run(quick: true, threads: 2, _ => { });

        Assert.Equal([TrainStepBenchmark.Naive, TrainStepBenchmark.Rewritten], report.Variants.Keys.Order());
        Assert.Equal(2 / (report.Variants[TrainStepBenchmark.Rewritten].Median / 1000), report.ImagesPerSecond[TrainStepBenchmark.Rewritten], 9);
        Assert.True(report.RewriteSpeedup > 0);
    }

    [Fact]
    public void Video_ingest_quick_run_times_decoding_and_both_preprocessings()
    {
        var report = VideoIngestBenchmark.Run(quick: true, _ => { });

        Assert.Equal(30, report.Frames);
        Assert.True(report.DecodeFps > 0 && report.PreprocessNative.Median > 0);
        Assert.Equal(3, report.PreprocessManaged.Count);
        Assert.Equal(report.PreprocessManaged.Median / report.PreprocessNative.Median, report.NativeSpeedup, 9);
    }

    [Fact]
    public void Report_is_written_as_json_with_the_machine_it_ran_on()
    {
        var dir = Directory.CreateTempSubdirectory("m2s-bench-");
        try
        {
            var stats = LatencyStats.From([1.0, 2.0, 3.0, 4.0]);

            var path = ReportWriter.Write(dir, "unit", new { machine = MachineInfo.Current(), stats });

            var json = File.ReadAllText(path);
            Assert.Contains("\"logical_cores\"", json);
            Assert.Contains("\"median_ms\": 2", json);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Theory]
    [InlineData(50, 5.0)]
    [InlineData(95, 10.0)]
    [InlineData(99, 10.0)]
    [InlineData(10, 1.0)]
    public void Percentiles_use_the_nearest_rank(double p, double expected)
    {
        double[] sorted = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];

        Assert.Equal(expected, LatencyStats.Percentile(sorted, p));
    }

    [Fact]
    public async Task Daemon_latency_quick_run_measures_every_stage_with_one_and_eight_clients()
    {
        var report = await DaemonLatencyBenchmark.RunAsync(quick: true, threads: 0, M2SNet.Edge.Protocol.V1.MaskEncoding.Rle, new Progress<string>(_ => { }));

        Assert.Equal(DaemonLatencyBenchmark.ClientCounts, report.Runs.Select(r => r.Clients));
        Assert.All(report.Runs.Append(report.BesideStalled.Run), run =>
        {
            // What holds at any load: frames arrived, no faster than the 30 fps source, and the
            // percentiles are ordered; each frame's overhead is its latency less its inference, so
            // the overhead's median cannot exceed the latency's.
            Assert.True(run.Frames > 0 && run.FpsPerClient > 0, $"{run.Frames} frames with {run.Clients} clients");
            Assert.True(run.FpsPerClient <= 40, $"{run.FpsPerClient:F1} fps from a 30 fps source");
            var total = run.Stages["capture → received"];
            var inference = run.Stages["inference"];
            Assert.True(total.P50 > inference.P50 && total.P50 <= total.P95 && total.P95 <= total.P99 && total.P99 <= total.Max);
            Assert.InRange(run.Stages["overhead (all but inference)"].P50, 0, total.P50);
        });
        Assert.Equal(report.Runs[0].Stages["overhead (all but inference)"].P50 / report.Runs[0].Stages["inference"].P50, report.OverheadToInference, 1e-9);
        Assert.Equal(report.BesideStalled.Run.FpsPerClient / report.Runs[0].FpsPerClient, report.BesideStalled.FpsRatio, 1e-9);
    }

    [Fact]
    public async Task Model_swap_quick_run_accounts_for_every_frame_and_reports_drops_per_fifty_swaps()
    {
        var progress = new List<string>();

        var report = await ModelSwapBenchmark.RunAsync(quick: true, fps: 30, clients: 2, new SyncProgress(progress.Add));

        Assert.Equal(10, report.Swaps);
        Assert.Equal(2, report.Clients.Count);
        Assert.Equal(10, report.Validation.Count);
        Assert.All(report.Clients, c =>
        {
            Assert.True(c.Delivered > 0);
            Assert.Equal(c.Missing - c.DroppedForClient - c.SkippedForClient, c.NotExplainedByClient);
            Assert.True(c.SwitchesSeen >= 1, "no swap was seen in the stream");
        });
        // A swap never takes a frame that no counter reports.
        Assert.Equal(0, report.UncountedGaps);
        Assert.Contains(progress, p => p.Contains("10/10 swaps", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Hold_quick_run_refuses_what_passes_the_bound_and_the_baseline_holds_it_all()
    {
        var report = await HoldBenchmark.RunAsync(quick: true, new SyncProgress(_ => { }));

        var (bounded, unbounded) = (report.Runs[0], report.Runs[1]);
        // 6 calls of 12 MiB are 72 MiB: past the default 64 MiB at least one is refused, naming the bound.
        Assert.True(bounded.Refused >= 1, string.Join(", ", bounded.Statuses));
        Assert.Contains(bounded.Statuses.Keys, k => k.Contains("MaxUnfinishedMessageBytes", StringComparison.Ordinal));
        Assert.Equal(bounded.Calls, unbounded.Held);
        Assert.All(report.Runs, r => Assert.True(r.ViewerFailed is null && r.ViewerFrames > 0, $"{r.Daemon}: viewer {r.ViewerFailed}, {r.ViewerFrames} frames"));
    }
}
