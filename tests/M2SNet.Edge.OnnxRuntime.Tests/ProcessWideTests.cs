using System.Diagnostics;
using M2SNet.Edge.Onnx;
using M2SNet.Edge.OnnxRuntime.Native;
using Microsoft.Extensions.Logging;

namespace M2SNet.Edge.OnnxRuntime.Tests;

/// <summary>Tests that read process-wide state (threads, memory, live handles, the ORT log) run alone.</summary>
[CollectionDefinition(nameof(ProcessWide), DisableParallelization = true)]
public sealed class ProcessWide;

[Collection(nameof(ProcessWide))]
public sealed class HandleLifetimeTests
{
    [Fact]
    public void Ten_thousand_runs_leak_no_native_objects_and_no_memory()
    {
        using var session = new InferenceSession(TestModels.Affine());
        var x = new float[4];
        void RunOnce()
        {
            using var input = OrtValue.CreateTensorValueFromMemory(x, [1, 4]);
            using var outputs = session.Run(null, ["x"], [input], ["y"]);
        }

        for (var i = 0; i < 1000; i++) RunOnce(); // warm-up: arenas and JIT settle
        SettleFinalizers();
        var liveBefore = OrtHandle.Live;
        var rssBefore = ResidentBytes();

        for (var i = 0; i < 10_000; i++) RunOnce();

        Assert.Equal(liveBefore, OrtHandle.Live);
        var growth = ResidentBytes() - rssBefore;
        Assert.True(growth < 16L << 20, $"resident memory grew by {growth >> 20} MiB over 10,000 runs");
    }

    [Fact]
    public void Sessions_bindings_and_options_release_everything_they_own()
    {
        var model = TestModels.Affine();
        SettleFinalizers();
        var before = OrtHandle.Live;

        for (var i = 0; i < 50; i++)
        {
            using var session = new InferenceSession(model);
            using var runOptions = new RunOptions();
            using var value = OrtValue.CreateAllocatedTensorValue(TensorElementType.Float, [1, 4]);
            using var output = OrtValue.CreateAllocatedTensorValue(TensorElementType.Float, [1, 4]);
            using var binding = session.CreateIoBinding();
            binding.BindInput("x", value);
            binding.BindOutput("y", output);
            session.RunWithBinding(binding, runOptions);
            _ = value.GetTensorTypeAndShape();
            _ = session.GetCustomMetadata("any");
        }

        Assert.Equal(before, OrtHandle.Live);
    }

    [Fact]
    public void Failed_session_creation_leaves_nothing_behind()
    {
        SettleFinalizers();
        var before = OrtHandle.Live;

        for (var i = 0; i < 20; i++)
        {
            Assert.Throws<OrtException>(() => new InferenceSession(new byte[] { 1, 2, 3 }));
        }

        Assert.Equal(before, OrtHandle.Live);
    }

    /// <summary>Lets objects other tests left to the finalizer go first, so counts below see only this test.</summary>
    private static void SettleFinalizers()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
    }

    private static long ResidentBytes()
    {
        using var p = Process.GetCurrentProcess();
        p.Refresh();
        return p.WorkingSet64;
    }
}

[Collection(nameof(ProcessWide))]
public sealed class ThreadingOptionTests
{
    [Fact]
    public void Intra_op_thread_count_sets_the_size_of_ORTs_pool()
    {
        var model = SampleModels.ResNetLike(size: 32, width: 8, blocks: 1);

        var one = ThreadsAddedBy(() => new InferenceSession(model, new SessionOptions { IntraOpNumThreads = 1 }));
        var four = ThreadsAddedBy(() => new InferenceSession(model, new SessionOptions { IntraOpNumThreads = 4 }));

        Assert.Equal(3, four - one); // the calling thread is the fourth
    }

    [Fact]
    public void Inter_op_thread_count_sets_the_parallel_executors_pool()
    {
        var model = SampleModels.ResNetLike(size: 32, width: 8, blocks: 1);
        SessionOptions Parallel(int n) => new() { IntraOpNumThreads = 1, ExecutionMode = ExecutionMode.Parallel, InterOpNumThreads = n };

        var one = ThreadsAddedBy(() => new InferenceSession(model, Parallel(1)));
        var three = ThreadsAddedBy(() => new InferenceSession(model, Parallel(3)));

        Assert.Equal(2, three - one);
    }

    private static int ThreadsAddedBy(Func<InferenceSession> create)
    {
        var before = Directory.GetDirectories("/proc/self/task").Length;
        using var session = create();
        return Directory.GetDirectories("/proc/self/task").Length - before;
    }
}

[Collection(nameof(ProcessWide))]
public sealed class LogRoutingTests
{
    [Fact]
    public void ORT_warnings_reach_the_dotnet_logger()
    {
        var sink = new ListLoggerFactory();
        OrtEnvironment.UseLogger(sink);
        try
        {
            // An initializer no node uses makes ORT warn while it loads the model.
            var g = new OnnxGraphBuilder("unused_initializer");
            var x = g.Input("x", TensorElementKind.Float, 2);
            g.Initializer("never_used", [1f, 2f], 2);
            g.Output(g.Node("Identity", [x], "y"), TensorElementKind.Float, 2);

            using var session = new InferenceSession(g.ToBytes());

            Assert.Contains(sink.Messages, m => m.Level == LogLevel.Warning && m.Text.Contains("never_used", StringComparison.Ordinal));
        }
        finally
        {
            OrtEnvironment.UseLogger(Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance);
        }
    }

    private sealed class ListLoggerFactory : ILoggerFactory, ILogger
    {
        private readonly List<(LogLevel Level, string Text)> _messages = [];

        public IReadOnlyList<(LogLevel Level, string Text)> Messages
        {
            get
            {
                lock (_messages) return [.. _messages];
            }
        }

        public ILogger CreateLogger(string categoryName) => this;

        public void AddProvider(ILoggerProvider provider)
        {
        }

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (_messages) _messages.Add((logLevel, formatter(state, exception)));
        }

        public void Dispose()
        {
        }
    }
}

[Collection(nameof(ProcessWide))]
public sealed class LibraryLoadingTests
{
    [Fact]
    public void Explicit_library_path_that_does_not_exist_is_a_clear_error()
    {
        var e = Assert.Throws<OrtLibraryException>(() => OrtEnvironment.LoadLibrary("/opt/nowhere/libonnxruntime.so.1"));

        Assert.Contains("/opt/nowhere/libonnxruntime.so.1: no such file", e.Message);
    }

    [Fact]
    public void A_library_that_is_not_ONNX_Runtime_is_named_as_such()
    {
        var zlib = new[] { "/lib/x86_64-linux-gnu/libz.so.1", "/usr/lib/x86_64-linux-gnu/libz.so.1", "/lib/aarch64-linux-gnu/libz.so.1" }
            .First(File.Exists);

        var e = Assert.Throws<OrtLibraryException>(() => OrtEnvironment.LoadLibrary(zlib));

        Assert.Contains("not ONNX Runtime", e.Message);
    }

    [Fact]
    public void Environment_variable_overrides_the_bundled_library()
    {
        var previous = Environment.GetEnvironmentVariable(OrtEnvironmentOptions.LibraryPathVariable);
        try
        {
            Environment.SetEnvironmentVariable(OrtEnvironmentOptions.LibraryPathVariable, "/opt/ort-gpu/lib/libonnxruntime.so");
            Assert.Equal(["/opt/ort-gpu/lib/libonnxruntime.so"], OrtEnvironment.LibraryCandidates(null));
            Assert.Equal(["/explicit/wins.so"], OrtEnvironment.LibraryCandidates("/explicit/wins.so"));
        }
        finally
        {
            Environment.SetEnvironmentVariable(OrtEnvironmentOptions.LibraryPathVariable, previous);
        }
    }

    [Fact]
    public void Bundled_library_is_found_next_to_the_application()
    {
        var env = OrtEnvironment.Instance;

        Assert.StartsWith(AppContext.BaseDirectory, env.LibraryPath, StringComparison.Ordinal);
        Assert.StartsWith("1.30.", env.Version, StringComparison.Ordinal);
    }

    [Fact]
    public void A_second_library_cannot_replace_the_loaded_one()
    {
        _ = OrtEnvironment.Instance;

        Assert.Throws<OrtLibraryException>(() => OrtEnvironment.Initialize(new OrtEnvironmentOptions { LibraryPath = "/other/libonnxruntime.so.1" }));
    }
}
