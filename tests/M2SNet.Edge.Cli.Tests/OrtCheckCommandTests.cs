using M2SNet.Edge.Onnx;

namespace M2SNet.Edge.Cli.Tests;

public sealed class OrtCheckCommandTests
{
    [Fact]
    public async Task Ort_check_prints_inputs_outputs_provider_and_run_time()
    {
        var path = Path.Combine(Path.GetTempPath(), $"m2s-cli-{Guid.NewGuid():N}.onnx");
        await File.WriteAllBytesAsync(path, SampleModels.ResNetLike(size: 64, width: 8, blocks: 1), TestContext.Current.CancellationToken);
        try
        {
            var r = await CliProcess.RunAsync("ort-check", path, "--provider", "cpu", "--runs", "3", "--dim", "batch=2");

            Assert.Equal(0, r.ExitCode);
            Assert.Contains("input  image: Float [batch, 3, 64, 64]", r.Stdout);
            Assert.Contains("output logits: Float [batch, 1, 64, 64]", r.Stdout);
            Assert.Contains("Execution provider: CPU", r.Stdout);
            Assert.Matches(@"First run on zeros: \d+\.\d ms", r.Stdout);
            Assert.Matches(@"Median of 3 more runs: \d+\.\d ms", r.Stdout);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public async Task Missing_model_is_one_line_and_a_failing_exit_code()
    {
        var r = await CliProcess.RunAsync("ort-check", "/nonexistent/model.onnx");

        Assert.Equal(1, r.ExitCode);
        Assert.Equal("m2s: error: model file not found: /nonexistent/model.onnx", r.Stderr.Trim());
    }

    [Fact]
    public async Task Corrupt_model_reports_ORTs_reason_without_a_stack_trace()
    {
        var path = Path.Combine(Path.GetTempPath(), $"m2s-corrupt-{Guid.NewGuid():N}.onnx");
        await File.WriteAllBytesAsync(path, [0x08, 0xFF, 0xFF, 0x13, 0x37], TestContext.Current.CancellationToken);
        try
        {
            var r = await CliProcess.RunAsync("ort-check", path, "--provider", "cpu");

            Assert.Equal(1, r.ExitCode);
            Assert.StartsWith("m2s: error: [ONNX Runtime InvalidProtobuf]", r.Stderr.Trim());
            Assert.DoesNotContain("   at ", r.Stderr);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public async Task Unknown_provider_is_a_clear_error()
    {
        var r = await CliProcess.RunAsync("demo", "--provider", "quantum", "--frames", "1");

        Assert.Equal(1, r.ExitCode);
        Assert.Contains("unknown execution provider 'quantum'", r.Stderr);
    }

    [Fact]
    public async Task Demo_runs_the_sample_network_and_prints_latency()
    {
        var r = await CliProcess.RunAsync("demo", "--frames", "3", "--size", "64", "--provider", "cpu");

        Assert.Equal(0, r.ExitCode);
        Assert.Contains("Execution provider: CPU", r.Stdout);
        Assert.Matches(@"median \d+\.\d ms, p95 \d+\.\d ms", r.Stdout);
    }

    [Fact]
    public async Task Help_lists_the_commands()
    {
        var r = await CliProcess.RunAsync("--help");

        Assert.Equal(0, r.ExitCode);
        Assert.Contains("ort-check", r.Stdout);
        Assert.Contains("demo", r.Stdout);
    }
}
