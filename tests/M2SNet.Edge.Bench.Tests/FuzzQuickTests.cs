using M2SNet.Edge.Bench.Fuzz;

namespace M2SNet.Edge.Bench.Tests;

/// <summary>The fuzz suite in its quick mode (issue 17): the same engine as <c>m2s-bench fuzz</c>, 1000 inputs.</summary>
public sealed class FuzzQuickTests
{
    /// <summary>
    /// What RSS may grow by over the run. The daemon holds, by its own bounds, at most 64 MiB of
    /// unfinished request messages and 8 MiB per message; native allocators (glibc arenas under
    /// OpenCV, libpng, ONNX Runtime's sessions for each validated bundle) keep what they freed, and
    /// the GC keeps headroom it has grown into. A run measures +50 to +60 MiB; a leak of a few
    /// hundred KiB per input, or a buffer held per refused call, passes 300.
    /// </summary>
    private const double RssGrowthBoundMiB = 300;

    [Fact]
    public async Task Quick_fuzz_gets_an_acceptable_answer_for_every_input_while_a_viewer_keeps_receiving()
    {
        var progress = new List<string>();

        var report = await FuzzCampaign.RunAsync(FuzzSettings.For(count: null, seed: 1, quick: true), new SyncProgress(progress.Add),
            TestContext.Current.CancellationToken);

        Assert.True(report.Unacceptable == 0,
            $"{report.Unacceptable} unacceptable answers:\n" + string.Join("\n", report.Failures.Select(f => $"{f.Category}#{f.Index} {f.Input}: {f.Answer}: {f.Detail}")));
        Assert.Equal(FuzzCampaign.Shares.Select(s => s.Category), report.Categories.Select(c => c.Category));
        // Every category exercised: all its inputs, or (on a slow machine, at the time cap) at least 50.
        Assert.All(report.Categories, c => Assert.True(c.Tried == c.Planned || c.Tried >= 50, $"{c.Category}: {c.Tried} of {c.Planned}"));
        Assert.True(report.Inputs >= 900 || report.Categories.Any(c => c.StoppedByTimeCap), $"{report.Inputs} inputs");
        Assert.All(report.Categories, c => Assert.Equal(c.Tried, c.Answers.Values.Sum()));

        // The viewer never failed and received masks in every fifth of the run.
        Assert.Null(report.Viewer.Failure);
        var seconds = report.Viewer.FramesPerSecond;
        Assert.True(seconds.Count >= 5, $"a run of {seconds.Count} s");
        var fifths = Enumerable.Range(0, 5).Select(i => seconds.Skip(i * seconds.Count / 5).Take((i + 1) * seconds.Count / 5 - i * seconds.Count / 5).Sum()).ToList();
        Assert.All(fifths, frames => Assert.True(frames > 0, $"masks per fifth of the run: {string.Join(", ", fifths)}"));

        Assert.True(report.RssGrowthMiB <= RssGrowthBoundMiB, $"RSS {report.RssBeforeMiB:F0} -> {report.RssAfterMiB:F0} MiB");
        Assert.Equal("SERVING", report.HealthAfter);
        Assert.Equal(report.ModelBefore, report.ModelAfter);
        Assert.True(report.Passed);
        Assert.Contains(progress, p => p.StartsWith("RSS after", StringComparison.Ordinal));
    }

    [Fact]
    public void An_input_is_made_from_the_seed_the_category_and_its_index_alone()
    {
        Assert.Equal(FuzzCampaign.InputSeed(1, 2, 3), FuzzCampaign.InputSeed(1, 2, 3));
        Assert.NotEqual(FuzzCampaign.InputSeed(1, 2, 3), FuzzCampaign.InputSeed(1, 2, 4));
        Assert.NotEqual(FuzzCampaign.InputSeed(1, 2, 3), FuzzCampaign.InputSeed(1, 3, 3));
        Assert.NotEqual(FuzzCampaign.InputSeed(1, 2, 3), FuzzCampaign.InputSeed(2, 2, 3));
    }
}
