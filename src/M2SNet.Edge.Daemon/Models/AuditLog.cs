using System.Text.Json;
using System.Text.Json.Serialization;

namespace M2SNet.Edge.Daemon.Models;

/// <summary>One attempt to change the model, whatever its outcome.</summary>
public sealed record AuditEntry(
    [property: JsonPropertyName("time_utc")] DateTimeOffset Time,
    [property: JsonPropertyName("action")] string Action,
    [property: JsonPropertyName("origin")] string Origin,
    [property: JsonPropertyName("outcome")] string Outcome,
    [property: JsonPropertyName("model")] string? Model = null,
    [property: JsonPropertyName("check")] string? Check = null,
    [property: JsonPropertyName("reason")] string? Reason = null,
    [property: JsonPropertyName("bundle_sha256")] string? BundleSha256 = null,
    [property: JsonPropertyName("signed_by")] string? SignedBy = null);

/// <summary>
/// The appliance's record of model changes: one JSON object per line, appended and flushed to
/// disk before the caller hears the outcome. Read it with <c>jq</c> or any log shipper.
/// </summary>
public sealed class AuditLog(string path)
{
    private static readonly JsonSerializerOptions s_json = new() { DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull };
    private readonly Lock _gate = new();

    public string Path { get; } = path;

    public void Append(AuditEntry entry)
    {
        var line = JsonSerializer.Serialize(entry, s_json) + "\n";
        lock (_gate)
        {
            using var stream = new FileStream(Path, FileMode.Append, FileAccess.Write, FileShare.Read);
            stream.Write(System.Text.Encoding.UTF8.GetBytes(line));
            stream.Flush(flushToDisk: true);
        }
    }

    public IReadOnlyList<AuditEntry> Read()
    {
        lock (_gate)
        {
            if (!File.Exists(Path)) return [];
            return [.. File.ReadAllLines(Path).Where(l => l.Length > 0).Select(l => JsonSerializer.Deserialize<AuditEntry>(l, s_json)!)];
        }
    }
}
