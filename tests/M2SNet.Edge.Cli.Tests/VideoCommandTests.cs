namespace M2SNet.Edge.Cli.Tests;

public sealed class VideoCommandTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("m2s-cli-video-");

    public void Dispose() => _dir.Delete(recursive: true);

    [Fact]
    public async Task Sample_writes_a_video_that_probe_reads_with_its_timings()
    {
        var path = Path.Combine(_dir.FullName, "sample.mp4");

        var sample = await CliProcess.RunAsync("video", "sample", "--out", path, "--seconds", "1", "--width", "320", "--height", "256");
        var probe = await CliProcess.RunAsync("video", "probe", path, "--frames", "20", "--size", "224");

        Assert.Equal(0, sample.ExitCode);
        Assert.Contains("wrote 30 frames", sample.Stdout);
        Assert.Equal(0, probe.ExitCode);
        Assert.Contains("320x256 @ 30 fps, mp4v, back-end FFMPEG, 30 frames", probe.Stdout);
        Assert.Matches(@"decoded 20 frames: \d+\.\d fps \(median \d+\.\d\d ms, p99 \d+\.\d\d ms per frame\)", probe.Stdout);
        Assert.Matches(@"preprocess to 224x224: median \d+\.\d\d ms", probe.Stdout);
    }

    [Theory]
    [InlineData("/dev/video7", "m2s: error: no capture device at /dev/video7")]
    [InlineData("/nonexistent/video.mp4", "m2s: error: video file not found: /nonexistent/video.mp4")]
    [InlineData("gopher://host/x", "m2s: error: 'gopher://host/x' is not a stream address this appliance reads")]
    [InlineData("rtsp://127.0.0.1:9/none", "m2s: error: cannot open rtsp://127.0.0.1:9/none (FFmpeg:")]
    public async Task An_unusable_source_is_one_line_and_a_failing_exit_code(string source, string message)
    {
        var r = await CliProcess.RunAsync("video", "probe", source, "--timeout", "3");

        Assert.Equal(1, r.ExitCode);
        Assert.StartsWith(message, r.Stderr.Trim(), StringComparison.Ordinal);
        Assert.Single(r.Stderr.Trim().Split('\n'));
    }
}
