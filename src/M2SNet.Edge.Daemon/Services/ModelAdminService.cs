using M2SNet.Edge.Daemon.Models;
using M2SNet.Edge.Deployment;
using Grpc.Core;
using M2SNet.Edge.Protocol;
using M2SNet.Edge.Protocol.V1;
using Microsoft.Extensions.Logging;

namespace M2SNet.Edge.Daemon.Services;

/// <summary>
/// <c>m2snet.edge.v1.ModelAdmin</c>: a thin adapter from the contract to <see cref="ModelUpdater"/>;
/// rejections become status codes whose detail starts with the failed check. Who may call it is
/// decided before any of it runs, by <see cref="AdminAccessInterceptor"/>.
/// </summary>
public sealed class ModelAdminService(ModelUpdater updater, ILogger<ModelAdminService> log) : ModelAdmin.ModelAdminBase
{
    public override async Task<ModelOperationResult> UploadModel(IAsyncStreamReader<UploadModelRequest> requests, ServerCallContext context)
    {
        var uploads = Guard(() => updater.Uploads ?? throw new ModelAdminException(ModelAdminProblem.StoreUnavailable, "uploads are off: the model store is unavailable"));
        if (!await requests.MoveNext(context.CancellationToken).ConfigureAwait(false))
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, "the upload sent no message"));
        }
        var first = requests.Current;
        var id = first.UploadId;
        using var upload = Guard(() => first.TotalBytes > long.MaxValue
            ? throw new UploadException(UploadProblem.TooLarge, $"the bundle is announced as {first.TotalBytes} bytes, more than any appliance stores")
            : uploads.Begin(id, (long)first.TotalBytes, string.IsNullOrEmpty(first.BundleSha256) ? null : first.BundleSha256.ToLowerInvariant()));
        var request = first;
        while (true)
        {
            if (request.UploadId != id) throw new RpcException(new Status(StatusCode.InvalidArgument, $"upload_id changed within the call ({ClientText.Quote(id)} → {ClientText.Quote(request.UploadId)})"));
            if (request.Data.Length > 0) Guard(() => upload.Append((long)request.Offset, request.Data.Span));
            if (!await requests.MoveNext(context.CancellationToken).ConfigureAwait(false)) break;
            request = requests.Current;
        }
        if (!upload.IsComplete)
        {
            throw new RpcException(new Status(StatusCode.Aborted, $"Format: the upload ended after {upload.Received} of {upload.Total} bytes (truncated); resume from offset {upload.Received} with the same upload_id"));
        }
        var origin = $"upload from {context.Peer}" + (first.FileName is { Length: > 0 } name ? $" ({ClientText.Quote(name)})" : "");
        try
        {
            if (upload.Sha256 is { } expected && !string.Equals(expected, Onnx.ModelManifest.Sha256Of(upload.Path), StringComparison.Ordinal))
            {
                updater.Store.Audit.Append(new AuditEntry(DateTimeOffset.UtcNow, "install", origin, "rejected", null, "Format", "the bundle's SHA-256 differs from the one announced", expected));
                throw new RpcException(new Status(StatusCode.InvalidArgument, $"Format: the received bundle's SHA-256 is not the announced {expected} (damaged in transit); upload it again"));
            }
            return ToResult(await Guard(() => updater.InstallAsync(upload.Path, origin, first.StageOnly, context.CancellationToken)).ConfigureAwait(false));
        }
        finally
        {
            // Complete bundles are validated once; a rejected one must be fixed and sent again.
            upload.Discard();
        }
    }

    public override Task<UploadStatus> GetUploadStatus(GetUploadStatusRequest request, ServerCallContext context)
    {
        var uploads = Guard(() => updater.Uploads ?? throw new ModelAdminException(ModelAdminProblem.StoreUnavailable, "uploads are off: the model store is unavailable"));
        var (exists, received, total) = Guard(() => uploads.Status(request.UploadId));
        return Task.FromResult(new UploadStatus { UploadId = request.UploadId, Exists = exists, ReceivedBytes = (ulong)received, TotalBytes = (ulong)total });
    }

    public override Task<ModelList> ListModels(ListModelsRequest request, ServerCallContext context)
    {
        var list = new ModelList();
        foreach (var entry in Guard(updater.List))
        {
            list.Models.Add(ToMessage(entry));
            if (entry.Active) list.ActiveKey = entry.Record.Key;
        }
        return Task.FromResult(list);
    }

    public override async Task<ModelOperationResult> ActivateModel(ActivateModelRequest request, ServerCallContext context)
    {
        if (string.IsNullOrWhiteSpace(request.Key)) throw new RpcException(new Status(StatusCode.InvalidArgument, "key is empty (ListModels shows the keys)"));
        return ToResult(await Guard(() => updater.ActivateAsync(request.Key, $"ActivateModel from {context.Peer}", context.CancellationToken)).ConfigureAwait(false));
    }

    public override async Task<ModelOperationResult> Rollback(RollbackRequest request, ServerCallContext context)
    {
        return ToResult(await Guard(() => updater.RollbackAsync($"Rollback from {context.Peer}", context.CancellationToken)).ConfigureAwait(false));
    }

    private T Guard<T>(Func<T> action)
    {
        try
        {
            return action();
        }
        catch (Exception e) when (ToStatus(e) is { } status)
        {
            log.LogInformation("Model administration refused: {Status}", status.Detail);
            throw new RpcException(status);
        }
    }

    private async Task<T> Guard<T>(Func<Task<T>> action)
    {
        try
        {
            return await action().ConfigureAwait(false);
        }
        catch (Exception e) when (ToStatus(e) is { } status)
        {
            log.LogInformation("Model administration refused: {Status}", status.Detail);
            throw new RpcException(status);
        }
    }

    private static Status? ToStatus(Exception e) => e switch
    {
        BundleRejectedException { Check: BundleCheck.Storage } r => new Status(StatusCode.ResourceExhausted, $"{r.Check}: {r.Reason}"),
        BundleRejectedException r => new Status(StatusCode.InvalidArgument, $"{r.Check}: {r.Reason}"),
        UploadException { Problem: UploadProblem.WrongOffset } u => new Status(StatusCode.OutOfRange, u.Message),
        UploadException { Problem: UploadProblem.TooLarge or UploadProblem.DiskFull } u => new Status(StatusCode.ResourceExhausted, $"Storage: {u.Message}"),
        UploadException { Problem: UploadProblem.Busy } u => new Status(StatusCode.Aborted, u.Message),
        UploadException u => new Status(StatusCode.InvalidArgument, u.Message),
        ModelAdminException { Problem: ModelAdminProblem.NotFound } a => new Status(StatusCode.NotFound, a.Message),
        ModelAdminException { Problem: ModelAdminProblem.NothingToRollBack } a => new Status(StatusCode.FailedPrecondition, a.Message),
        ModelAdminException a => new Status(StatusCode.FailedPrecondition, a.Message),
        IOException io => new Status(StatusCode.ResourceExhausted, $"Storage: {io.Message}"),
        _ => null,
    };

    private static ModelOperationResult ToResult(ModelChange change) => new()
    {
        Model = ToMessage(change.Model),
        Activated = change.Activated,
        Replaced = change.Replaced is null ? null : ToMessage(change.Replaced),
        ValidationSeconds = change.ValidationSeconds,
        Message = change.Message,
    };

    private static StoredModel ToMessage(ModelEntry entry)
    {
        var r = entry.Record;
        var message = new StoredModel
        {
            Key = r.Key,
            Id = r.ModelId,
            Version = r.Version,
            Architecture = r.Architecture,
            OnnxSha256 = r.OnnxSha256,
            SignedBy = r.SignedBy,
            Active = entry.Active,
            Previous = entry.Previous,
            Factory = entry.Factory,
            InstalledUnixMs = r.Installed.ToUnixTimeMilliseconds(),
            Origin = r.Origin,
            Precision = r.Precision,
        };
        message.InputShape.AddRange(r.InputShape);
        return message;
    }
}
