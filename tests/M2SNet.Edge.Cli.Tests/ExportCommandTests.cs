using M2SNet.Edge.Onnx;
using M2SNet.Edge.TestSupport;

namespace M2SNet.Edge.Cli.Tests;

public sealed class ExportCommandTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("m2s-cli-export-");

    public void Dispose() => _dir.Delete(recursive: true);

    [Fact]
    public async Task Export_writes_model_and_manifest_and_ends_with_the_parity_result()
    {
        var onnx = Path.Combine(_dir.FullName, "chnet.onnx");

        var r = await CliProcess.RunAsync("export", "--model", "chnet", "--random-init", "--size", "64", "--out", onnx);

        Assert.Equal(0, r.ExitCode);
        Assert.Matches(@"^parity: max \|ONNX - libtorch\| = \S+ in logits \(tolerance \S+, output absmax \S+\): PASS, model id chnet-[0-9a-f]{8}$", r.Stdout.Trim());
        Assert.Contains("verifying with ONNX Runtime against libtorch", r.Stderr);
        var manifest = ModelManifest.FromJson(await File.ReadAllTextAsync(Path.Combine(_dir.FullName, "chnet.json"), TestContext.Current.CancellationToken));
        Assert.Equal(ModelManifest.Sha256Of(onnx), manifest.OnnxSha256);
    }

    [Fact]
    public async Task A_checkpoint_of_another_architecture_is_one_line_naming_the_keys()
    {
        var r = await CliProcess.RunAsync("export", "--model", "msnet", "--checkpoint", Reference.Fixture("m2snet_ref_fp16.pth"),
            "--out", Path.Combine(_dir.FullName, "msnet.onnx"));

        Assert.Equal(1, r.ExitCode);
        Assert.StartsWith("m2s: error: the checkpoint does not match the model: unexpected keys (10): conv_3.norm.weight", r.Stderr.Split('\n').Last(l => l.Length > 0));
        Assert.Empty(_dir.GetFiles());
    }

    [Theory]
    [InlineData("--model", "unet", "unknown model 'unet' (known: m2snet, msnet, chnet, m2snet-s, chnet-s)")]
    [InlineData("--size", "100", "--size must be a positive multiple of 32, not 100")]
    public async Task Bad_arguments_are_one_clear_line(string option, string value, string message)
    {
        var args = new List<string> { "export", "--model", "chnet", "--random-init", "--out", Path.Combine(_dir.FullName, "x.onnx") };
        var i = args.IndexOf(option);
        if (i >= 0) args[i + 1] = value;
        else args.AddRange([option, value]);

        var r = await CliProcess.RunAsync([.. args]);

        Assert.Equal(1, r.ExitCode);
        Assert.Equal($"m2s: error: {message}", r.Stderr.Trim());
    }

    [Fact]
    public async Task An_unwritable_output_path_fails_before_any_work()
    {
        var r = await CliProcess.RunAsync("export", "--model", "chnet", "--random-init", "--out", "/proc/m2s/model.onnx");

        Assert.Equal(1, r.ExitCode);
        Assert.Contains("m2s: error: cannot write to /proc/m2s", r.Stderr);
    }
}
