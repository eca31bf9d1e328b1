using M2SNet.Edge.TestSupport;

namespace M2SNet.Edge.Cli.Tests;

/// <summary>synth → train → eval → export → eval, as a clinical team would run them.</summary>
public sealed class TrainingCommandsTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("m2s-cli-train-");

    public void Dispose() => _dir.Delete(recursive: true);

    private string P(string name) => Path.Combine(_dir.FullName, name);

    [Fact]
    public async Task Synth_train_eval_and_export_work_end_to_end()
    {
        var synth = await CliProcess.RunAsync("synth", "--out", P("data"), "--count", "16", "--size", "64", "--seed", "5");
        Assert.Equal(0, synth.ExitCode);
        Assert.Equal(16, Directory.GetFiles(P("data/images")).Length);

        var train = await CliProcess.RunAsync("train", "--model", "m2snet-s", "--data", P("data"), "--out", P("run"),
            "--epochs", "2", "--batch-size", "4", "--size", "64", "--rates", "1", "--threads", "2", "--val-fraction", "0.25");
        Assert.True(train.ExitCode == 0, train.Stderr + train.Stdout);
        Assert.Contains("warning: no --backbone-weights", train.Stdout);
        Assert.Matches(@"epoch +2: loss \d\.\d{4}", train.Stdout);
        Assert.Matches(@"best validation mDice \d\.\d{4}", train.Stdout);

        var eval = await CliProcess.RunAsync("eval", "--model", "m2snet-s", "--checkpoint", P("run/best.pth"), "--data", P("data"), "--size", "64", "--out", P("eval"));
        Assert.True(eval.ExitCode == 0, eval.Stderr);
        Assert.Contains("mDice", eval.Stdout);
        Assert.Contains("HD95", eval.Stdout);
        Assert.True(File.Exists(P("eval/metrics.json")) && File.Exists(P("eval/worst_data.png")));

        var export = await CliProcess.RunAsync("export", "--model", "m2snet-s", "--checkpoint", P("run/best.pth"), "--size", "64", "--out", P("model.onnx"));
        Assert.True(export.ExitCode == 0, export.Stderr);
        var manifest = await File.ReadAllTextAsync(P("model.json"), TestContext.Current.CancellationToken);
        Assert.Contains("\"training\"", manifest);
        Assert.Contains("\"mDice\"", manifest);

        var evalOnnx = await CliProcess.RunAsync("eval", "--onnx", P("model.onnx"), "--data", P("data"));
        Assert.True(evalOnnx.ExitCode == 0, evalOnnx.Stderr);
        Assert.Contains("on ONNX Runtime", evalOnnx.Stdout);
    }

    [Fact]
    public async Task Saved_prediction_maps_are_scored_against_masks()
    {
        await CliProcess.RunAsync("synth", "--out", P("data"), "--count", "3", "--size", "64");

        var r = await CliProcess.RunAsync("eval", "--pred", P("data/masks"), "--gt", P("data/masks"));

        Assert.Equal(0, r.ExitCode);
        Assert.Matches(@"mDice\s+│\s+1\.0000", r.Stdout);
    }

    [Fact]
    public async Task The_authors_checkpoint_imports_and_a_mismatched_one_is_refused()
    {
        var ok = await CliProcess.RunAsync("import", "--model", "m2snet", "--checkpoint", Reference.Fixture("m2snet_ref_fp16.pth"), "--out", P("imported.pth"));
        Assert.True(ok.ExitCode == 0, ok.Stderr);
        Assert.Contains("690 tensors, 27,692,585 parameters", ok.Stdout);

        var bad = await CliProcess.RunAsync("import", "--model", "chnet", "--checkpoint", Reference.Fixture("m2snet_ref_fp16.pth"), "--out", P("bad.pth"));
        Assert.Equal(1, bad.ExitCode);
        Assert.StartsWith("m2s: error: the checkpoint does not match the model", bad.Stderr.Trim());
        Assert.False(File.Exists(P("bad.pth")));
    }

    [Theory]
    [InlineData("train --data /nonexistent --out /tmp/x", "dataset folder not found: /nonexistent")]
    [InlineData("train --data . --out /tmp/x --task knee", "unknown task 'knee' (known: polyp, lung, breast, oct)")]
    [InlineData("train --data . --out /tmp/x --size 100", "--size must be a positive multiple of 32, not 100")]
    [InlineData("synth --out /tmp/x --count 0", "--count must be at least 1")]
    [InlineData("eval --pred /tmp", "--pred needs --gt (the folder of masks)")]
    public async Task Bad_arguments_are_one_clear_line(string arguments, string message)
    {
        var r = await CliProcess.RunAsync(arguments.Split(' '));

        Assert.Equal(1, r.ExitCode);
        Assert.Equal($"m2s: error: {message}", r.Stderr.Trim());
    }
}
