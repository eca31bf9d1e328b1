using M2SNet.Edge.Synthetic;
using Microsoft.Extensions.Logging;

namespace M2SNet.Edge.Daemon.Pipeline;

/// <summary>
/// The bundled sample (source "sample"): a synthetic colonoscopy clip made once, on first use,
/// into the daemon's data folder. Deterministic: every machine plays the same frames.
/// </summary>
public static class SampleVideos
{
    public const string SourceName = "sample";

    /// <summary>$M2S_DATA_DIR, else systemd's $STATE_DIRECTORY, else ~/.cache/m2snet-edge.</summary>
    public static string DataDirectory()
    {
        var explicitDir = Environment.GetEnvironmentVariable("M2S_DATA_DIR");
        if (!string.IsNullOrWhiteSpace(explicitDir)) return explicitDir;
        var state = Environment.GetEnvironmentVariable("STATE_DIRECTORY");
        if (!string.IsNullOrWhiteSpace(state)) return state.Split(':')[0];
        var cache = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
        if (string.IsNullOrWhiteSpace(cache)) cache = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");
        return Path.Combine(cache, "m2snet-edge");
    }

    /// <summary>The sample's path, writing it first if this machine has not got it yet.</summary>
    public static string Ensure(int width, int height, ILogger log, CancellationToken cancel = default)
    {
        var dir = DataDirectory();
        var path = Path.Combine(dir, $"sample-colonoscopy-{width}x{height}.mp4");
        if (File.Exists(path)) return path;
        Directory.CreateDirectory(dir);
        log.LogInformation("Writing the bundled sample video ({Width}x{Height}, 10 s) to {Path}; this happens once", width, height, path);
        var temp = path + $".{Environment.ProcessId}.partial.mp4";
        try
        {
            var lastReported = 0;
            SampleVideo.Write(temp, seed: 7, seconds: 10, fps: 30, width: width, height: height,
                progress: new Progress(n =>
                {
                    cancel.ThrowIfCancellationRequested();
                    if (n - lastReported < 60) return;
                    lastReported = n;
                    log.LogInformation("Sample video: {Frames}/300 frames", n);
                }));
            File.Move(temp, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
        return path;
    }

    // Synchronous progress (System.Progress posts to the thread pool).
    private sealed class Progress(Action<int> report) : IProgress<int>
    {
        public void Report(int value) => report(value);
    }
}
