using M2SNet.Edge.Onnx;
using M2SNet.Edge.TestSupport;

namespace M2SNet.Edge.Cli.Tests;

/// <summary><c>m2s quantize</c> and <c>m2s export --int8</c> as a user runs them, on synthetic frames.</summary>
public sealed class QuantizeCommandTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("m2s-cli-quantize-");

    public void Dispose() => _dir.Delete(recursive: true);

    private string P(string name) => Path.Combine(_dir.FullName, name);

    private static string DemoModel => Path.Combine(Reference.RepositoryRoot(), "models", "m2snet-s-demo.onnx");

    [Fact]
    public async Task Quantize_writes_the_int8_model_and_prints_the_check_it_passed()
    {
        Assert.Equal(0, (await CliProcess.RunAsync("synth", "--out", P("frames"), "--count", "12", "--size", "224", "--seed", "500000")).ExitCode);

        var r = await CliProcess.RunAsync("quantize", "--onnx", DemoModel, "--calibration", P("frames"), "--out", P("int8.onnx"));

        Assert.Equal(0, r.ExitCode);
        Assert.Matches(@"accuracy: mDice \d\.\d{4} against float32 \d\.\d{4} on 3 held-out frames \(masks\): drop -?\d\.\d{4}, limit 0\.0100: PASS", r.Stdout);
        Assert.Contains("float: ", r.Stdout);
        Assert.Contains("calibration pass 2 of 2: frame 9/9", r.Stderr);
        var manifest = ModelManifest.FromJson(await File.ReadAllTextAsync(P("int8.json"), TestContext.Current.CancellationToken));
        Assert.Equal("int8", manifest.Precision);
        Assert.Contains($"model id {manifest.ModelId}", r.Stdout);
    }

    [Fact]
    public async Task A_check_that_fails_exits_1_with_the_reason_and_writes_nothing()
    {
        Assert.Equal(0, (await CliProcess.RunAsync("synth", "--out", P("frames"), "--count", "8", "--size", "224", "--seed", "500000")).ExitCode);
        // Calibrated on black frames, every activation range is a dark screen's: real frames clip.
        Directory.CreateDirectory(P("black"));
        using (var black = new OpenCv.Mat(224, 224, OpenCv.MatType.CV_8UC3))
        {
            black.SetTo(new OpenCv.Scalar(0, 0, 0));
            for (var i = 0; i < 4; i++) OpenCv.Cv2.ImWrite(P($"black/{i}.png"), black);
        }

        var r = await CliProcess.RunAsync("quantize", "--onnx", DemoModel, "--calibration", P("black"), "--val", P("frames"), "--out", P("int8.onnx"));

        Assert.Equal(1, r.ExitCode);
        Assert.Matches(@"m2s: error: the int8 model scores mDice \d\.\d{4} against float32's \d\.\d{4} on 8 held-out frames: a drop of \d\.\d{4}, over the limit 0\.0100; nothing was written \(--force writes it anyway\)", r.Stderr);
        Assert.Contains(": FAIL", r.Stdout);
        Assert.False(File.Exists(P("int8.onnx")));
        Assert.False(File.Exists(P("int8.json")));
    }

    [Theory]
    [InlineData("int8 needs --calibration DIR (frames to calibrate on)")]
    [InlineData("give --int8 or --fp16, not both", "--calibration", "MISSING", "--int8", "--fp16")]
    [InlineData("frame folder not found: MISSING", "--calibration", "MISSING")]
    [InlineData("the allowed mDice drop cannot be negative", "--calibration", "FRAMES", "--max-drop", "-1")]
    public async Task Bad_arguments_are_one_clear_line(string message, params string[] extra)
    {
        var missing = P("missing");
        Directory.CreateDirectory(P("frames"));
        File.Copy(Path.Combine(Reference.RepositoryRoot(), "models", "m2snet-s-demo.onnx"), P("frames/not-a-frame.png"));
        var r = await CliProcess.RunAsync(["quantize", "--onnx", DemoModel, "--out", P("x.onnx"),
            .. extra.Select(a => a == "MISSING" ? missing : a == "FRAMES" ? P("frames") : a)]);

        Assert.Equal(1, r.ExitCode);
        Assert.Equal($"m2s: error: {message.Replace("MISSING", missing, StringComparison.Ordinal)}", r.Stderr.Trim());
        Assert.False(File.Exists(P("x.onnx")));
    }

    [Fact]
    public async Task Export_with_int8_calibrates_on_the_frames_and_keeps_the_training_record()
    {
        Assert.Equal(0, (await CliProcess.RunAsync("synth", "--out", P("frames"), "--count", "8", "--size", "64", "--seed", "3")).ExitCode);

        var r = await CliProcess.RunAsync("export", "--model", "chnet-s", "--random-init", "--size", "64", "--int8", "--calibration", P("frames"),
            "--force", "--out", P("chnet-int8.onnx"));

        Assert.Equal(0, r.ExitCode);
        Assert.Contains("parity: max |ONNX - libtorch|", r.Stdout);
        Assert.Contains("reducing to int8", r.Stderr);
        var manifest = ModelManifest.FromJson(await File.ReadAllTextAsync(P("chnet-int8.json"), TestContext.Current.CancellationToken));
        Assert.Equal("int8", manifest.Precision);
        Assert.Equal("chnet-s", manifest.Architecture);
        Assert.Equal(["chnet-int8.json", "chnet-int8.onnx", "frames"], _dir.EnumerateFileSystemInfos().Select(f => f.Name).Order());
    }
}
