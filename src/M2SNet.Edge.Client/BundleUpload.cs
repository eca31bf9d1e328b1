using Grpc.Core;
using M2SNet.Edge.Protocol;
using M2SNet.Edge.Protocol.V1;

namespace M2SNet.Edge.Client;

/// <summary>One <c>UploadModel</c> call: the rest of a bundle, in chunks, from where the daemon stopped receiving.</summary>
public static class BundleUpload
{
    public const int DefaultChunkBytes = 1024 * 1024;

    /// <summary>
    /// Sends <paramref name="data"/> from its position (which is <paramref name="offset"/> in the bundle) to its end; the first
    /// message announces the whole bundle. If the daemon ends the call early, its status is what the returned task throws.
    /// </summary>
    public static async Task<ModelOperationResult> SendAsync(ModelAdmin.ModelAdminClient admin, Stream data, long offset, long totalBytes, string uploadId,
        string? sha256, bool stageOnly, string fileName, int chunkBytes = DefaultChunkBytes, Action<int>? sent = null, Action? uploaded = null,
        CancellationToken cancel = default)
    {
        // A call whose very first message could not be written (the transport failed it before
        // anything went out, seen after the daemon refused the previous call on the connection) is
        // dropped and made again once: completing it empty would only earn "the upload sent no
        // message". Uploads resume by offset, so nothing is sent twice.
        var start = data.CanSeek ? data.Position : -1;
        for (var attempt = 1; ; attempt++)
        {
            var (result, firstWriteFailed) = await AttemptAsync(admin, data, offset, totalBytes, uploadId, sha256, stageOnly, fileName, chunkBytes,
                sent, uploaded, retryable: attempt == 1 && start >= 0, cancel).ConfigureAwait(false);
            if (!firstWriteFailed) return result!;
            data.Position = start;
        }
    }

    private static async Task<(ModelOperationResult? Result, bool FirstWriteFailed)> AttemptAsync(ModelAdmin.ModelAdminClient admin, Stream data, long offset,
        long totalBytes, string uploadId, string? sha256, bool stageOnly, string fileName, int chunkBytes, Action<int>? sent, Action? uploaded,
        bool retryable, CancellationToken cancel)
    {
        using var call = admin.UploadModel(new CallOptions(cancellationToken: cancel));
        var buffer = new byte[chunkBytes];
        var first = true;
        var written = false;
        int read;
        while ((read = await data.ReadAsync(buffer, cancel).ConfigureAwait(false)) > 0 || first)
        {
            var request = new UploadModelRequest { UploadId = uploadId, Offset = (ulong)offset, Data = Google.Protobuf.ByteString.CopyFrom(buffer, 0, read) };
            if (first)
            {
                request.TotalBytes = (ulong)totalBytes;
                request.BundleSha256 = sha256 ?? "";
                request.StageOnly = stageOnly;
                request.FileName = fileName;
                first = false;
            }
            try
            {
                await call.RequestStream.WriteAsync(request, cancel).ConfigureAwait(false);
                written = true;
            }
            catch (Exception e) when (e is RpcException or HttpRequestException or IOException)
            {
                if (!written && retryable && !call.ResponseAsync.IsCompleted) return (null, true);
                break; // the daemon ended the call (and may have closed the stream); its reason is the call's status
            }
            offset += read;
            sent?.Invoke(read);
            if (read == 0) break;
        }
        try
        {
            await call.RequestStream.CompleteAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is RpcException or HttpRequestException or IOException or InvalidOperationException)
        {
            // Already ended by the daemon: the status below says why.
        }
        uploaded?.Invoke();
        return (await call.ResponseAsync.ConfigureAwait(false), false);
    }
}
