using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;
using M2SNet.Edge.Deployment;

namespace M2SNet.Edge.Daemon.Models;

/// <summary>A model kept on the appliance: where it came from and what it is.</summary>
public sealed record StoredModelRecord(
    [property: JsonPropertyName("key")] string Key,
    [property: JsonPropertyName("model_id")] string ModelId,
    [property: JsonPropertyName("version")] string Version,
    [property: JsonPropertyName("architecture")] string Architecture,
    [property: JsonPropertyName("onnx_sha256")] string OnnxSha256,
    [property: JsonPropertyName("signed_by")] string SignedBy,
    [property: JsonPropertyName("installed_utc")] DateTimeOffset Installed,
    [property: JsonPropertyName("origin")] string Origin,
    [property: JsonPropertyName("input_shape")] long[] InputShape,
    [property: JsonPropertyName("precision")] string Precision = Onnx.ModelManifest.Precisions.Float32);

/// <summary>Which model runs, and which one Rollback returns to; keys of the store or "factory".</summary>
public sealed record ModelStoreState(
    [property: JsonPropertyName("active")] string Active,
    [property: JsonPropertyName("previous")] string? Previous);

/// <summary>
/// The appliance's models on disk, under the state folder:
/// <code>
///   models/&lt;key&gt;/{model.onnx, model.json, model.json.sig, record.json}   validated bundles, unpacked
///   state.json                                                         active and previous (atomic writes)
///   audit.log                                                          every attempt, JSON lines
///   uploads/                                                           partial uploads
/// </code>
/// A bundle is unpacked into a staging folder, validated there, and only then renamed into place.
/// </summary>
public sealed partial class ModelStore
{
    public const string FactoryKey = "factory";
    private const string RecordFile = "record.json";
    private static readonly JsonSerializerOptions s_json = new() { WriteIndented = true };
    private readonly string _models;
    private readonly string _statePath;

    public ModelStore(string root)
    {
        Root = Path.GetFullPath(root);
        _models = Path.Combine(Root, "models");
        _statePath = Path.Combine(Root, "state.json");
        Directory.CreateDirectory(_models);
        Directory.CreateDirectory(UploadsDirectory);
        Audit = new AuditLog(Path.Combine(Root, "audit.log"));
        // Staging folders left by a crash mid-validation are never referenced.
        foreach (var stale in Directory.GetDirectories(_models, ".staging-*")) Directory.Delete(stale, recursive: true);
    }

    public string Root { get; }

    public string UploadsDirectory => Path.Combine(Root, "uploads");

    public AuditLog Audit { get; }

    public string DirectoryOf(string key) => Path.Combine(_models, key);

    public string CreateStagingDirectory() => Directory.CreateDirectory(Path.Combine(_models, $".staging-{Guid.NewGuid():N}")).FullName;

    public IReadOnlyList<StoredModelRecord> List() =>
        [.. Directory.GetDirectories(_models).Where(d => !Path.GetFileName(d).StartsWith('.')).Select(d => Path.Combine(d, RecordFile))
            .Where(File.Exists).Select(f => JsonSerializer.Deserialize<StoredModelRecord>(File.ReadAllText(f), s_json)!)
            .OrderBy(r => r.Installed)];

    public StoredModelRecord? Find(string key) => List().FirstOrDefault(r => r.Key == key);

    /// <summary>Moves a validated staging folder into the store; a model already stored under the same key is kept as it is.</summary>
    public StoredModelRecord Commit(string stagingDirectory, ValidatedModel validated, string origin)
    {
        var m = validated.Manifest;
        var key = KeyFor(m.ModelId, m.Version, m.OnnxSha256);
        var target = DirectoryOf(key);
        if (Directory.Exists(target) && File.Exists(Path.Combine(target, RecordFile)))
        {
            Directory.Delete(stagingDirectory, recursive: true);
            return JsonSerializer.Deserialize<StoredModelRecord>(File.ReadAllText(Path.Combine(target, RecordFile)), s_json)!;
        }
        if (Directory.Exists(target)) Directory.Delete(target, recursive: true);
        var record = new StoredModelRecord(key, m.ModelId, m.Version, m.Architecture, m.OnnxSha256, validated.KeyId, DateTimeOffset.UtcNow, origin, m.Input.Shape, m.Precision);
        DurableFile.WriteAllText(Path.Combine(stagingDirectory, RecordFile), JsonSerializer.Serialize(record, s_json));
        Directory.Move(stagingDirectory, target);
        DurableFile.FlushDirectory(_models);
        return record;
    }

    public ModelStoreState ReadState()
    {
        if (!File.Exists(_statePath)) return new ModelStoreState(FactoryKey, null);
        try
        {
            return JsonSerializer.Deserialize<ModelStoreState>(File.ReadAllText(_statePath), s_json) ?? new ModelStoreState(FactoryKey, null);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{_statePath} is damaged ({e.Message}); remove it to start on the factory model");
        }
    }

    public void WriteState(ModelStoreState state) => DurableFile.WriteAllText(_statePath, JsonSerializer.Serialize(state, s_json));

    /// <summary>"m2snet-s-a34a6aef-1.0.0-a34a6aef": readable, unique per model file and version, safe as a folder name.</summary>
    public static string KeyFor(string modelId, string version, string sha256) =>
        UnsafeCharacters().Replace($"{modelId}-{version}-{sha256[..Math.Min(8, sha256.Length)]}", "_");

    [GeneratedRegex("[^A-Za-z0-9._-]")]
    private static partial Regex UnsafeCharacters();
}
