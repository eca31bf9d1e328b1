using M2SNet.Edge.Export;
using M2SNet.Edge.Inference;
using Microsoft.ML.OnnxRuntime;
using M2SNet.Edge.Torch;

namespace M2SNet.Edge.Cli;

/// <summary>A user-facing failure: printed as one line, exit code 1.</summary>
internal sealed class CliException(string message) : Exception(message);

internal static class CliErrors
{
    /// <summary>Runs a command body; known failures become one clear line on stderr and exit code 1.</summary>
    public static int Guard(Func<int> body)
    {
        try
        {
            return body();
        }
        catch (Exception e) when (IsUserFacing(e))
        {
            var message = e is ArgumentException { ParamName: { } p } ? e.Message.Replace($" (Parameter '{p}')", "", StringComparison.Ordinal) : e.Message;
            Console.Error.WriteLine($"m2s: error: {message}");
            return 1;
        }
    }

    private static bool IsUserFacing(Exception e) => e is CliException or OnnxRuntimeException or ExecutionProviderException or OrtLibraryException or TorchException
        or torch.StateDictException or ExportVerificationException or InvalidDataException or IOException
        or UnauthorizedAccessException or ArgumentException or DllNotFoundException or Training.Data.DatasetException
        or OpenCv.OpenCvException or Video.VideoSourceException;
}

/// <summary>Progress reported on the caller's thread, in order (System.Progress posts to the thread pool).</summary>
internal sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}
