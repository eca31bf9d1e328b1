namespace M2SNet.Edge.Daemon.Models;

/// <summary>
/// Runs work that must not take CPU from the frame path (validating a model: graph optimisation,
/// self-test, warm-up) on its own thread at a lower scheduling priority. On Linux that thread gets
/// nice 10 (about a tenth of the CPU share of the pipeline's threads when both want a core);
/// .NET's ThreadPriority has no effect there for unprivileged processes.
/// </summary>
internal static class BackgroundPriority
{
    private const int Nice = 10;

    public static Task<T> Run<T>(Func<T> work, string name)
    {
        var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            Lower();
            try
            {
                done.SetResult(work());
            }
            catch (Exception e)
            {
                done.SetException(e);
            }
        })
        { IsBackground = true, Name = name };
        thread.Start();
        return done.Task;
    }

    private static void Lower() =>
        // ONNX Runtime creates no threads of its own with one intra-op thread; with more they inherit it.
        Video.ThreadNice.Lower(Nice);
}
