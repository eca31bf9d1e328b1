using Grpc.Health.V1;
using M2SNet.Edge.Grpc;
using M2SNet.Edge.Grpc.Client;
using M2SNet.Edge.Protocol.V1;

namespace M2SNet.Edge.Protocol;

/// <summary>The methods of <c>m2snet.edge.v1.Segmentation</c> (segmentation.proto).</summary>
public static class SegmentationApi
{
    public const string ServiceName = "m2snet.edge.v1.Segmentation";

    public static readonly Method<StreamMasksRequest, MaskMessage> StreamMasks = new(MethodType.ServerStreaming, ServiceName, "StreamMasks");

    public static readonly Method<SegmentRequest, MaskMessage> Segment = new(MethodType.DuplexStreaming, ServiceName, "Segment");

    public static readonly Method<GetInfoRequest, DaemonInfo> GetInfo = new(MethodType.Unary, ServiceName, "GetInfo");
}

/// <summary>The methods of <c>m2snet.edge.v1.ModelAdmin</c> (admin.proto).</summary>
public static class ModelAdminApi
{
    public const string ServiceName = "m2snet.edge.v1.ModelAdmin";

    public static readonly Method<UploadModelRequest, ModelOperationResult> UploadModel = new(MethodType.ClientStreaming, ServiceName, "UploadModel");

    public static readonly Method<GetUploadStatusRequest, UploadStatus> GetUploadStatus = new(MethodType.Unary, ServiceName, "GetUploadStatus");

    public static readonly Method<ListModelsRequest, ModelList> ListModels = new(MethodType.Unary, ServiceName, "ListModels");

    public static readonly Method<ActivateModelRequest, ModelOperationResult> ActivateModel = new(MethodType.Unary, ServiceName, "ActivateModel");

    public static readonly Method<RollbackRequest, ModelOperationResult> Rollback = new(MethodType.Unary, ServiceName, "Rollback");
}

/// <summary>The methods of the standard <c>grpc.health.v1.Health</c> (health.proto).</summary>
public static class HealthApi
{
    public const string ServiceName = "grpc.health.v1.Health";

    public static readonly Method<HealthCheckRequest, HealthCheckResponse> Check = new(MethodType.Unary, ServiceName, "Check");

    public static readonly Method<HealthCheckRequest, HealthCheckResponse> Watch = new(MethodType.ServerStreaming, ServiceName, "Watch");
}

/// <summary>A typed client of the Segmentation service.</summary>
public sealed class SegmentationClient(GrpcChannel channel)
{
    public AsyncServerStreamingCall<MaskMessage> StreamMasks(StreamMasksRequest request, CallOptions options = default) =>
        channel.ServerStreaming(SegmentationApi.StreamMasks, request, options);

    public AsyncDuplexStreamingCall<SegmentRequest, MaskMessage> Segment(CallOptions options = default) =>
        channel.DuplexStreaming(SegmentationApi.Segment, options);

    public Task<DaemonInfo> GetInfoAsync(CallOptions options = default) =>
        channel.UnaryAsync(SegmentationApi.GetInfo, new GetInfoRequest(), options);
}

/// <summary>A typed client of the health service.</summary>
public sealed class HealthClient(GrpcChannel channel)
{
    public Task<HealthCheckResponse> CheckAsync(string service = "", CallOptions options = default) =>
        channel.UnaryAsync(HealthApi.Check, new HealthCheckRequest { Service = service }, options);

    public AsyncServerStreamingCall<HealthCheckResponse> Watch(string service = "", CallOptions options = default) =>
        channel.ServerStreaming(HealthApi.Watch, new HealthCheckRequest { Service = service }, options);
}

/// <summary>A typed client of the ModelAdmin service.</summary>
public sealed class ModelAdminClient(GrpcChannel channel)
{
    public AsyncClientStreamingCall<UploadModelRequest, ModelOperationResult> UploadModel(CallOptions options = default) =>
        channel.ClientStreaming(ModelAdminApi.UploadModel, options);

    public Task<UploadStatus> GetUploadStatusAsync(string uploadId, CallOptions options = default) =>
        channel.UnaryAsync(ModelAdminApi.GetUploadStatus, new GetUploadStatusRequest { UploadId = uploadId }, options);

    public Task<ModelList> ListModelsAsync(CallOptions options = default) =>
        channel.UnaryAsync(ModelAdminApi.ListModels, new ListModelsRequest(), options);

    public Task<ModelOperationResult> ActivateModelAsync(string key, CallOptions options = default) =>
        channel.UnaryAsync(ModelAdminApi.ActivateModel, new ActivateModelRequest { Key = key }, options);

    public Task<ModelOperationResult> RollbackAsync(CallOptions options = default) =>
        channel.UnaryAsync(ModelAdminApi.Rollback, new RollbackRequest(), options);
}
