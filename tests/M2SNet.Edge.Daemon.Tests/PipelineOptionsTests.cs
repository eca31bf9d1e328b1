using M2SNet.Edge.Daemon.Configuration;

namespace M2SNet.Edge.Daemon.Tests;

public sealed class PipelineOptionsTests
{
    [Theory]
    [InlineData(-1, 200, "Daemon:Pipeline:DecodeNice must be 0 to 19, not -1")]
    [InlineData(20, 200, "Daemon:Pipeline:DecodeNice must be 0 to 19, not 20")]
    [InlineData(5, -5, "Daemon:Pipeline:StageSliceMicroseconds must be 0 to 100000, not -5")]
    public void Out_of_range_scheduling_settings_are_named(int nice, int slice, string error)
    {
        var options = new DaemonOptions { Pipeline = new PipelineOptions { DecodeNice = nice, StageSliceMicroseconds = slice } };

        Assert.Contains(error, DaemonOptionsValidator.Validate(options));
    }

    [Fact]
    public void The_defaults_fold_preprocessing_into_inference_and_favour_the_stages()
    {
        var o = new PipelineOptions();

        Assert.True(o.PreprocessOnInferenceThread);
        Assert.Equal(5, o.DecodeNice);
        Assert.Equal(200, o.StageSliceMicroseconds);
        Assert.DoesNotContain(DaemonOptionsValidator.Validate(new DaemonOptions()), e => e.Contains("Pipeline", StringComparison.Ordinal));
    }
}
