using M2SNet.Edge.OnnxRuntime;

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
        catch (Exception e) when (e is CliException or OrtException or OrtLibraryException or IOException or UnauthorizedAccessException or ArgumentException)
        {
            Console.Error.WriteLine($"m2s: error: {e.Message}");
            return 1;
        }
    }
}
