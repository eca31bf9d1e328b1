using System.Text.Json;

namespace M2SNet.Edge.Bench;

public static class ReportWriter
{
    private static readonly JsonSerializerOptions s_json = new() { WriteIndented = true };

    /// <summary>Writes <c>NAME-&lt;utc time&gt;.json</c> into the folder (default: bench/results of the checkout).</summary>
    public static string Write<T>(DirectoryInfo? folder, string name, T report)
    {
        var dir = folder?.FullName ?? Path.Combine(RepoRoot() ?? Environment.CurrentDirectory, "bench", "results");
        Directory.CreateDirectory(dir);
        var path = Path.Combine(dir, $"{name}-{DateTime.UtcNow:yyyyMMddTHHmmssZ}.json");
        File.WriteAllText(path, JsonSerializer.Serialize(report, s_json));
        return path;
    }

    /// <summary>A file of the repository this runs in (found from the working folder up), or null.</summary>
    public static string? InRepository(string relative) =>
        RepoRoot() is { } root && File.Exists(Path.Combine(root, relative)) ? Path.Combine(root, relative) : null;

    private static string? RepoRoot()
    {
        for (var d = new DirectoryInfo(Environment.CurrentDirectory); d is not null; d = d.Parent)
        {
            if (File.Exists(Path.Combine(d.FullName, "M2SNet.Edge.sln"))) return d.FullName;
        }
        return null;
    }
}
