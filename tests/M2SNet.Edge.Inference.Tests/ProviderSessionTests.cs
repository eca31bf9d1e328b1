using System.Collections.Concurrent;
using M2SNet.Edge.Onnx;
using Microsoft.Extensions.Logging;
using Microsoft.ML.OnnxRuntime;

namespace M2SNet.Edge.Inference.Tests;

/// <summary>Sessions on the official ONNX Runtime package (the CPU flavour this suite builds).</summary>
public sealed class ProviderSessionTests
{
    [Fact]
    public void The_first_provider_that_works_runs_the_model_and_each_skipped_one_says_why()
    {
        using var session = ProviderSession.Create(SampleModels.ResNetLike(size: 32, width: 8, blocks: 1),
            new SessionSettings { IntraOpNumThreads = 1, ExecutionProviders = ExecutionProvider.DefaultPreference });

        Assert.Equal(ExecutionProvider.Cpu, session.ExecutionProvider);
        Assert.Equal(["TensorRT", "CUDA", "DirectML"], session.ProviderFailures.Select(f => f.Provider.Name));
        Assert.All(session.ProviderFailures, f => Assert.StartsWith("not in this ONNX Runtime build (Cpu flavour, 1.31.1", f.Reason));
        Assert.Equal("Cpu", OrtEnvironment.Flavor);
        Assert.Equal("1.31.1", OrtEnvironment.Instance.Version);
    }

    [Fact]
    public void A_bound_run_writes_the_network_output_into_the_callers_buffer()
    {
        using var session = ProviderSession.Create(SampleModels.ResNetLike(size: 32, width: 8, blocks: 1), new SessionSettings { IntraOpNumThreads = 1 });
        var image = Enumerable.Range(0, 3 * 32 * 32).Select(i => (i % 17) / 17f - 0.5f).ToArray();
        var bound = new float[32 * 32];
        using var input = OrtValue.CreateTensorValueFromMemory(image, [1, 3, 32, 32]);
        using var output = OrtValue.CreateTensorValueFromMemory(bound, [1, 1, 32, 32]);
        using var binding = session.CreateIoBinding();
        binding.BindInput("image", input);
        binding.BindOutput("logits", output);

        session.RunWithBinding(binding);
        using var allocated = session.Run(ProviderSession.DefaultRun, ["image"], [input], ["logits"]);

        Assert.Contains(bound, v => v != 0);
        Assert.Equal(allocated[0].GetTensorDataAsSpan<float>().ToArray(), bound);
    }

    [Fact]
    public void A_damaged_model_fails_with_ORTs_reason_without_trying_the_other_providers()
    {
        var e = Assert.Throws<OnnxRuntimeException>(() => ProviderSession.Create([0x08, 0xFF, 0xFF, 0x13, 0x37],
            new SessionSettings { ExecutionProviders = [ExecutionProvider.Cpu, ExecutionProvider.Cpu] }));

        Assert.Equal(OrtErrorCode.InvalidProtobuf, ProviderSession.ErrorCodeOf(e));
    }

    [Fact]
    public void One_process_holds_one_ONNX_Runtime_and_says_so_when_asked_for_another()
    {
        var loaded = OrtEnvironment.Instance;
        var other = Path.Combine(Path.GetTempPath(), $"m2s-other-{Guid.NewGuid():N}.so");

        Assert.Same(loaded, OrtEnvironment.Initialize(new OrtEnvironmentOptions()));
        Assert.Same(loaded, OrtEnvironment.Initialize(new OrtEnvironmentOptions { LibraryPath = loaded.LibraryPath }));
        var e = Assert.Throws<OrtLibraryException>(() => OrtEnvironment.Initialize(new OrtEnvironmentOptions { LibraryPath = other }));
        Assert.Contains($"already loaded from {loaded.LibraryPath}; cannot switch to {other}", e.Message);
        Assert.EndsWith("libonnxruntime.so", loaded.LibraryPath);
    }

    [Fact]
    public void An_empty_preference_list_is_refused()
    {
        var e = Assert.Throws<ArgumentException>(() => ProviderSession.Create(SampleModels.ResNetLike(size: 32, width: 8, blocks: 1),
            new SessionSettings { ExecutionProviders = [] }));
        Assert.Contains("preference list is empty", e.Message);
    }

    [Theory]
    // How ORT 1.31 logs a GPU provider whose CUDA libraries are missing, and what a person reads instead.
    [InlineData("Failed to load library libonnxruntime_providers_cuda.so with error: libcublasLt.so.13: cannot open shared object file: No such file or directory",
        "libcublasLt.so.13 is missing (libonnxruntime_providers_cuda.so needs it: cannot open shared object file: No such file or directory)")]
    [InlineData("/onnxruntime_src/onnxruntime/core/session/provider_bridge_ort.cc:1787 onnxruntime::Provider& onnxruntime::ProviderLibrary::Get() [ONNXRuntimeError] : 1 : FAIL : Failed to load library libonnxruntime_providers_tensorrt.so with error: libnvinfer.so.10: cannot open shared object file: No such file or directory",
        "libnvinfer.so.10 is missing (libonnxruntime_providers_tensorrt.so needs it: cannot open shared object file: No such file or directory)")]
    [InlineData("Failed to load library ./libonnxruntime_providers_cuda.so with error: cannot open shared object file: No such file or directory",
        "libonnxruntime_providers_cuda.so could not be loaded (cannot open shared object file: No such file or directory)")]
    public void The_reason_a_provider_cannot_load_comes_from_ORTs_log(string logged, string reason)
    {
        Assert.Equal(reason, ProviderSession.Describe("[ErrorCode:Fail] Failed to load shared library", [logged]));
    }

    [Fact]
    public void Without_a_log_line_the_reason_is_the_exception_text_without_ORTs_code()
    {
        Assert.Equal("CUDA execution provider is not enabled in this build.",
            ProviderSession.Describe("[ErrorCode:Fail] CUDA execution provider is not enabled in this build.", []));
    }

    [Fact]
    public void ORTs_own_log_reaches_the_application_log()
    {
        var sink = new Sink();
        using var factory = LoggerFactory.Create(b => b.AddProvider(sink).SetMinimumLevel(LogLevel.Trace));
        OrtEnvironment.UseLogger(factory);
        using var session = ProviderSession.Create(DemoModel(), new SessionSettings { IntraOpNumThreads = 1 });
        // A 1x1 image cannot be pooled and added back at full size: ORT fails inside a kernel and logs why.
        using var input = OrtValue.CreateTensorValueFromMemory(new float[3], [1, 3, 1, 1]);

        Assert.Throws<OnnxRuntimeException>(() => session.Run(ProviderSession.DefaultRun, session.InputNames, [input], session.OutputNames).Dispose());

        Assert.Contains(sink.Entries, e => e.Category == "OnnxRuntime" && e.Level >= LogLevel.Error && e.Message.Contains("Non-zero status code", StringComparison.Ordinal));
    }

    /// <summary>The bundled demo model (symbolic height and width), from the repository's models/ folder.</summary>
    private static string DemoModel()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var path = Path.Combine(dir.FullName, "models", "m2snet-s-demo.onnx");
            if (File.Exists(Path.Combine(dir.FullName, "M2SNet.Edge.sln")) && File.Exists(path)) return path;
        }
        throw new FileNotFoundException("models/m2snet-s-demo.onnx not found above " + AppContext.BaseDirectory);
    }

    private sealed class Sink : ILoggerProvider
    {
        public ConcurrentQueue<(string Category, LogLevel Level, string Message)> Entries { get; } = new();

        public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

        public void Dispose()
        {
        }

        private sealed class Logger(Sink sink, string category) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
                sink.Entries.Enqueue((category, logLevel, formatter(state, exception)));
        }
    }
}
