using System.Runtime.InteropServices;
using System.Text.Json;

namespace M2SNet.Edge.TestSupport;

/// <summary>
/// The reference fixtures produced by the authors' code, carried by the repository in
/// tests/fixtures/reference (or where M2S_REFERENCE_DIR points: the same files, flat or under fixtures/).
/// </summary>
public static class Reference
{
    public static string Directory { get; } = Locate();

    public static string Fixture(string name)
    {
        var path = Path.Combine(Directory, name);
        // The generator's own layout keeps the tensors under fixtures/ and the key list beside it.
        if (!File.Exists(path)) path = Path.Combine(Directory, "fixtures", name);
        if (!File.Exists(path)) throw new FileNotFoundException($"reference fixture missing: {path}", path);
        return path;
    }

    public static float[] Float32(string name) => MemoryMarshal.Cast<byte, float>(File.ReadAllBytes(Fixture(name))).ToArray();

    public static double[] Float64(string name) => MemoryMarshal.Cast<byte, double>(File.ReadAllBytes(Fixture(name))).ToArray();

    public static JsonElement Json(string name) => JsonDocument.Parse(File.ReadAllText(Fixture(name))).RootElement;

    /// <summary>The authors' state-dict keys and shapes for a model ("M2SNet" or "MSNet"), in their order.</summary>
    public static IReadOnlyList<(string Key, long[] Shape)> StateDictKeys(string model)
    {
        var root = JsonDocument.Parse(File.ReadAllText(Fixture("m2snet_state_dict_keys.json"))).RootElement;
        return root.GetProperty(model).EnumerateObject()
            .Select(p => (p.Name, p.Value.EnumerateArray().Select(v => v.GetInt64()).ToArray()))
            .ToList();
    }

    private static string Locate()
    {
        var fromEnvironment = Environment.GetEnvironmentVariable("M2S_REFERENCE_DIR");
        var folder = string.IsNullOrEmpty(fromEnvironment)
            ? Path.Combine(RepositoryRoot(), "tests", "fixtures", "reference")
            : Path.GetFullPath(fromEnvironment);
        if (!System.IO.Directory.Exists(folder))
        {
            throw new DirectoryNotFoundException($"the reference fixtures folder {folder} is missing");
        }
        return folder;
    }

    /// <summary>The checkout's root: the folder holding M2SNet.Edge.sln.</summary>
    public static string RepositoryRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            if (File.Exists(Path.Combine(d.FullName, "M2SNet.Edge.sln"))) return d.FullName;
        }
        throw new DirectoryNotFoundException("not inside an M2SNet.Edge checkout (no M2SNet.Edge.sln above the test binaries)");
    }
}
