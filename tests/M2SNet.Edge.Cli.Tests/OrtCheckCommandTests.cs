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
            Assert.StartsWith("m2s: error: [ErrorCode:InvalidProtobuf]", r.Stderr.Trim());
            Assert.DoesNotContain("   at ", r.Stderr);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public async Task Another_ONNX_Runtime_library_is_loaded_from_the_path_given()
    {
        // The CPU library of the package, copied under another name, stands in for a DirectML or
        // custom build: what the process maps (not what was asked for) is reported.
        var packaged = Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", "libonnxruntime.so");
        Assert.True(File.Exists(packaged), $"{packaged} is missing: the test project gets it from the Microsoft.ML.OnnxRuntime package");
        var dir = Directory.CreateTempSubdirectory("m2s-ort-").FullName;
        var copy = Path.Combine(dir, "libonnxruntime-custom.so");
        File.Copy(packaged, copy);
        var model = Path.Combine(dir, "m.onnx");
        await File.WriteAllBytesAsync(model, SampleModels.ResNetLike(size: 32, width: 8, blocks: 1), TestContext.Current.CancellationToken);
        try
        {
            var byOption = await CliProcess.RunAsync("ort-check", model, "--provider", "cpu", "--ort-library", copy);
            Assert.Equal(0, byOption.ExitCode);
            Assert.Contains($"from {copy}", byOption.Stdout);
            Assert.Contains("Execution provider: CPU", byOption.Stdout);

            var byDefault = await CliProcess.RunAsync("ort-check", model, "--provider", "cpu");
            Assert.Equal(0, byDefault.ExitCode);
            Assert.DoesNotContain(copy, byDefault.Stdout);
            Assert.Contains("libonnxruntime.so", byDefault.Stdout);

            var missing = await CliProcess.RunAsync("ort-check", model, "--ort-library", Path.Combine(dir, "absent.so"));
            Assert.Equal(1, missing.ExitCode);
            Assert.Contains("absent.so: no such file", missing.Stderr);

            var notALibrary = await CliProcess.RunAsync("ort-check", model, "--ort-library", model);
            Assert.Equal(1, notALibrary.ExitCode);
            Assert.Contains($"ONNX Runtime could not be loaded from {model}", notALibrary.Stderr);
            Assert.DoesNotContain("   at ", notALibrary.Stderr);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task Providers_this_build_lacks_are_skipped_with_the_reason()
    {
        var path = Path.Combine(Path.GetTempPath(), $"m2s-cli-{Guid.NewGuid():N}.onnx");
        await File.WriteAllBytesAsync(path, SampleModels.ResNetLike(size: 32, width: 8, blocks: 1), TestContext.Current.CancellationToken);
        try
        {
            var r = await CliProcess.RunAsync("ort-check", path, "--provider", "tensorrt,cuda,cpu");

            Assert.Equal(0, r.ExitCode);
            Assert.Contains("(Cpu package)", r.Stdout);
            Assert.Contains("Execution provider: CPU", r.Stdout);
            Assert.Contains("skipped TensorRT: not in this ONNX Runtime build (Cpu flavour", r.Stdout);
            Assert.Contains("skipped CUDA: not in this ONNX Runtime build (Cpu flavour", r.Stdout);
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
