using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace M2SNet.Edge.Daemon.Models;

/// <summary>Why an upload chunk was refused; the service maps it to a status code.</summary>
public enum UploadProblem
{
    InvalidRequest,
    WrongOffset,
    TooLarge,
    DiskFull,
    Busy,
}

public sealed class UploadException(UploadProblem problem, string message) : Exception(message)
{
    public UploadProblem Problem { get; } = problem;
}

/// <summary>
/// Partial uploads on disk, so an upload that broke off (a flaky OR network, a daemon restart)
/// goes on where it stopped: uploads/&lt;id&gt;.part holds the bytes so far, &lt;id&gt;.json what was
/// announced. One call at a time per upload id.
/// </summary>
public sealed partial class UploadSessions
{
    private readonly string _directory;
    private readonly long _maxBytes;
    private readonly long _minFreeBytes;
    private readonly ConcurrentDictionary<string, byte> _busy = new();

    public UploadSessions(string directory, long maxBytes, long minFreeBytes, TimeSpan expiry)
    {
        _directory = directory;
        _maxBytes = maxBytes;
        _minFreeBytes = minFreeBytes;
        Directory.CreateDirectory(directory);
        foreach (var file in Directory.GetFiles(directory).Where(f => File.GetLastWriteTimeUtc(f) < DateTime.UtcNow - expiry)) File.Delete(file);
    }

    private sealed record Announcement(long TotalBytes, string? Sha256);

    public (bool Exists, long Received, long Total) Status(string id)
    {
        CheckId(id);
        var meta = ReadAnnouncement(id);
        return meta is null ? (false, 0, 0) : (true, PartLength(id), meta.TotalBytes);
    }

    /// <summary>Starts or resumes <paramref name="id"/>. The upload is this call's until it is disposed.</summary>
    public Upload Begin(string id, long totalBytes, string? sha256)
    {
        CheckId(id);
        if (totalBytes <= 0) throw new UploadException(UploadProblem.InvalidRequest, "total_bytes must be given (and positive) in the first message");
        // Checked now, not after the whole bundle has arrived.
        if (sha256 is not null && (sha256.Length != 64 || !sha256.All(char.IsAsciiHexDigit)))
        {
            throw new UploadException(UploadProblem.InvalidRequest, $"bundle_sha256 '{Services.ClientText.Quote(sha256)}' is not 64 hexadecimal digits");
        }
        if (totalBytes > _maxBytes) throw new UploadException(UploadProblem.TooLarge, $"the bundle is {totalBytes} bytes; this appliance accepts at most {_maxBytes}");
        if (!_busy.TryAdd(id, 0)) throw new UploadException(UploadProblem.Busy, $"upload {Services.ClientText.Quote(id)} is already in progress on another call");
        try
        {
            var meta = ReadAnnouncement(id);
            if (meta is not null && meta.TotalBytes != totalBytes)
            {
                throw new UploadException(UploadProblem.InvalidRequest, $"upload {Services.ClientText.Quote(id)} was announced with {meta.TotalBytes} bytes, now {totalBytes}; use a new upload id");
            }
            var received = meta is null ? 0 : PartLength(id);
            // Room for the rest of the bundle and its unpacked copy, with the configured margin left over.
            var free = new DriveInfo(Path.GetFullPath(_directory)).AvailableFreeSpace;
            var needed = (totalBytes - received) + totalBytes;
            if (free - needed < _minFreeBytes)
            {
                throw new UploadException(UploadProblem.DiskFull, $"disk full: {free / 1048576} MiB free on the state folder's disk; the bundle and its unpacked copy need {needed / 1048576} MiB and {_minFreeBytes / 1048576} MiB must stay free");
            }
            if (meta is null)
            {
                DurableFile.WriteAllText(MetaPath(id), JsonSerializer.Serialize(new Announcement(totalBytes, sha256)));
                File.WriteAllBytes(PartPath(id), []);
            }
            return new Upload(this, id, totalBytes, meta is null ? sha256 : meta.Sha256, received);
        }
        catch
        {
            _busy.TryRemove(id, out _);
            throw;
        }
    }

    /// <summary>One call's hold on an upload: what was announced and how much has arrived, kept here rather than read back per chunk.</summary>
    public sealed class Upload(UploadSessions owner, string id, long totalBytes, string? sha256, long received) : IDisposable
    {
        public long Total { get; } = totalBytes;

        /// <summary>The SHA-256 announced for the whole bundle, if any.</summary>
        public string? Sha256 { get; } = sha256;

        public long Received { get; private set; } = received;

        public bool IsComplete => Received == Total;

        /// <summary>The bundle file; complete once <see cref="IsComplete"/>.</summary>
        public string Path => owner.PartPath(id);

        /// <summary>Appends a chunk that must start at the bytes received so far; returns the new count.</summary>
        public long Append(long offset, ReadOnlySpan<byte> data)
        {
            if (offset != Received) throw new UploadException(UploadProblem.WrongOffset, $"chunk at offset {offset}, but {Received} bytes have arrived; send from offset {Received}");
            if (Received + data.Length > Total) throw new UploadException(UploadProblem.InvalidRequest, $"the chunk ends at {Received + data.Length}, beyond the announced {Total} bytes");
            try
            {
                using var stream = new FileStream(Path, FileMode.Append, FileAccess.Write);
                stream.Write(data);
            }
            catch (IOException e) when (e.HResult == 28 || (e.HResult & 0xFFFF) == 28)
            {
                throw new UploadException(UploadProblem.DiskFull, $"disk full while writing the upload: {e.Message}");
            }
            return Received += data.Length;
        }

        /// <summary>Forgets the upload (validated or refused: it is not resumed).</summary>
        public void Discard()
        {
            File.Delete(owner.PartPath(id));
            File.Delete(owner.MetaPath(id));
        }

        public void Dispose() => owner._busy.TryRemove(id, out _);
    }

    private Announcement? ReadAnnouncement(string id) =>
        File.Exists(MetaPath(id)) && File.Exists(PartPath(id)) ? JsonSerializer.Deserialize<Announcement>(File.ReadAllText(MetaPath(id))) : null;

    private long PartLength(string id) => new FileInfo(PartPath(id)).Length;

    private string PartPath(string id) => Path.Combine(_directory, id + ".part");

    private string MetaPath(string id) => Path.Combine(_directory, id + ".json");

    private static void CheckId(string id)
    {
        if (!ValidId().IsMatch(id)) throw new UploadException(UploadProblem.InvalidRequest, $"upload_id '{Services.ClientText.Quote(id)}' is not 1 to 64 of A-Z a-z 0-9 _ - .");
    }

    [GeneratedRegex("^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}$")]
    private static partial Regex ValidId();
}
