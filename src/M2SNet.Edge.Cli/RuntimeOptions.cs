using System.CommandLine;
using M2SNet.Edge.Inference;
using Microsoft.ML.OnnxRuntime;
using Microsoft.Extensions.Logging;

namespace M2SNet.Edge.Cli;

/// <summary>The options every command that runs ONNX Runtime shares: library, providers, threads.</summary>
internal sealed class RuntimeOptions
{
    public Option<string?> OrtLibrary { get; } = new("--ort-library")
    {
        Description = $"another ONNX Runtime library to load, e.g. a DirectML build (default: ${OrtEnvironmentOptions.LibraryPathVariable}, then the NuGet package's)",
    };

    public Option<string> Providers { get; } = new("--provider")
    {
        Description = "execution providers in order of preference, comma-separated (tensorrt, cuda, directml, cpu)",
        DefaultValueFactory = _ => "tensorrt,cuda,directml,cpu",
    };

    public Option<int> Threads { get; } = new("--threads")
    {
        Description = "intra-op threads (0: one per core)",
        DefaultValueFactory = _ => 0,
    };

    public Option<bool> Verbose { get; } = new("--verbose")
    {
        Description = "show ONNX Runtime's informational messages",
    };

    public void AddTo(Command command)
    {
        command.Options.Add(OrtLibrary);
        command.Options.Add(Providers);
        command.Options.Add(Threads);
        command.Options.Add(Verbose);
    }

    /// <summary>Loads ORT with the chosen library and routes its log to the console.</summary>
    public OrtEnvironment InitializeEnvironment(ParseResult parse)
    {
        var verbose = parse.GetValue(Verbose);
        var loggerFactory = LoggerFactory.Create(b => b
            .AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = null; })
            .SetMinimumLevel(verbose ? LogLevel.Debug : LogLevel.Warning));
        OrtEnvironment.UseLogger(loggerFactory);
        return OrtEnvironment.Initialize(new OrtEnvironmentOptions
        {
            LibraryPath = parse.GetValue(OrtLibrary),
            LogLevel = verbose ? OrtLoggingLevel.ORT_LOGGING_LEVEL_INFO : OrtLoggingLevel.ORT_LOGGING_LEVEL_WARNING,
        });
    }

    public SessionSettings SessionSettings(ParseResult parse) => new()
    {
        IntraOpNumThreads = parse.GetValue(Threads),
        ExecutionProviders = [.. parse.GetValue(Providers)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(p => ExecutionProvider.Parse(p))],
    };
}
