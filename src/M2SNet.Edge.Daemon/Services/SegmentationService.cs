using System.Reflection;
using M2SNet.Edge.Daemon.Configuration;
using M2SNet.Edge.Daemon.Observability;
using M2SNet.Edge.Daemon.Pipeline;
using M2SNet.Edge.Daemon.Streaming;
using Grpc.Core;
using M2SNet.Edge.OpenCv;
using M2SNet.Edge.Protocol;
using M2SNet.Edge.Protocol.V1;
using M2SNet.Edge.Video;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using VideoFrame = M2SNet.Edge.Video.Frame;

namespace M2SNet.Edge.Daemon.Services;

/// <summary>
/// <c>m2snet.edge.v1.Segmentation</c>: a thin adapter from the contract to the pipeline,
/// the publisher and the model; domain failures become status codes with their reasons. Served by
/// Grpc.AspNetCore (one instance for the daemon's life).
/// </summary>
public sealed class SegmentationService(
    IOptions<DaemonOptions> options,
    ActivePipeline active,
    MaskPublisher publisher,
    PipelineMetrics metrics,
    DaemonState state,
    IHostApplicationLifetime lifetime,
    ILogger<SegmentationService> log) : Segmentation.SegmentationBase
{
    public static readonly string Version =
        typeof(SegmentationService).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "0";

    private readonly DaemonOptions _options = options.Value;

    public override async Task StreamMasks(StreamMasksRequest request, IServerStreamWriter<MaskMessage> responses, ServerCallContext context)
    {
        var mask = ClientMaskOptions.Resolve(request.Options, _options.Stream, _options.Limits);
        await WaitUntilReady(context.CancellationToken).ConfigureAwait(false);
        // A viewer is told at once that there is no video, and why, rather than left waiting (it may retry).
        if (state.VideoGone)
        {
            throw new RpcException(new Status(StatusCode.Unavailable, state.NotServingReason));
        }
        var name = string.IsNullOrWhiteSpace(request.ClientName) ? context.Peer : request.ClientName.Trim();
        using var subscriber = publisher.Subscribe(name, context.Peer, mask);
        // The video may have gone between the check and the subscription (its end reached no one then).
        if (state.VideoGone)
        {
            throw new RpcException(new Status(StatusCode.Unavailable, state.NotServingReason));
        }
        log.LogInformation("Client {Client} ({Peer}) streams masks as {Encoding}", name, context.Peer, mask.Encoding);
        await context.WriteResponseHeadersAsync([]).ConfigureAwait(false);
        using var ended = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, subscriber.Evicted);
        // A write is cancelled only when the client stopped reading: a cancelled write resets the stream, and the status would be lost.
        using var giveUp = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, subscriber.WriteAbandoned);
        try
        {
            while (await subscriber.NextAsync(ended.Token).ConfigureAwait(false) is { } lease)
            {
                using (lease)
                {
                    var message = MaskEncoder.Encode(lease.Result, lease.PublishedNs, mask, lease.Result.Sequence, subscriber.Dropped, subscriber.Skipped);
                    var t = message.Timestamps;
                    metrics.RecordSend(t.SendNs - Math.Max(t.PublishNs, t.PostprocessEndNs), t.SendNs - t.CaptureNs);
                    using (subscriber.Writing()) await responses.WriteAsync(message, giveUp.Token).ConfigureAwait(false);
                    subscriber.CountSent();
                }
            }
        }
        catch (OperationCanceledException) when (subscriber.EndStatus is { } end)
        {
            log.LogWarning("Stream of client {Client} ({Peer}) ended by the daemon: {Reason}", name, context.Peer, end.Detail);
            throw new RpcException(end);
        }
        finally
        {
            log.LogInformation("Client {Client} ({Peer}) left after {Sent} frames ({Dropped} dropped for reading slowly, {Skipped} skipped while the daemon was busy)",
                name, context.Peer, subscriber.Sent, subscriber.Dropped, subscriber.Skipped);
        }
        throw new RpcException(new Status(StatusCode.Unavailable, "the daemon is shutting down"));
    }

    public override async Task Segment(IAsyncStreamReader<SegmentRequest> requests, IServerStreamWriter<MaskMessage> responses, ServerCallContext context)
    {
        using var stopping = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, lifetime.ApplicationStopping);
        var cancel = stopping.Token;
        await WaitUntilReady(cancel).ConfigureAwait(false);
        // Segment calls count towards the same limit as the live streams.
        using var slot = publisher.EnterSegment(context.Peer);
        using var image = new Mat();
        ClientMaskOptions? mask = null;
        long index = 0;
        while (await NextFrameAsync(requests, index + 1, cancel).ConfigureAwait(false))
        {
            var request = requests.Current;
            index++;
            var received = MonotonicClock.NowNs;
            try
            {
                if (request.Options is not null) mask = ClientMaskOptions.Resolve(request.Options, _options.Stream, _options.Limits);
                mask ??= ClientMaskOptions.Resolve(null, _options.Stream, _options.Limits);
                FrameDecoder.Decode(request.Frame, _options.Limits, image);
            }
            catch (RpcException e)
            {
                throw new RpcException(new Status(e.StatusCode, $"frame #{index}: {e.Status.Detail}"));
            }
            // Each frame runs on the model active when it arrives (a swap takes effect at the next frame).
            SegmentationResult result;
            using (var work = FrameInFlight.Start(VideoFrame.Standalone(image, index, received), active)
                ?? throw new RpcException(new Status(StatusCode.Unavailable, "no model is loaded")))
            {
                result = work.Run(active.Presentation);
            }
            try
            {
                var message = MaskEncoder.Encode(result, MonotonicClock.NowNs, mask, index, droppedFrames: 0);
                message.ClientSequence = request.ClientSequence;
                message.ClientTimestampNs = request.ClientTimestampNs;
                await responses.WriteAsync(message, cancel).ConfigureAwait(false);
            }
            finally
            {
                result.Release();
            }
        }
    }

    /// <summary>The next request of a Segment call; a message the daemon cannot take names the frame it would have been.</summary>
    private async Task<bool> NextFrameAsync(IAsyncStreamReader<SegmentRequest> requests, long index, CancellationToken cancel)
    {
        try
        {
            return await requests.MoveNext(cancel).ConfigureAwait(false);
        }
        catch (UnfinishedMessageException e)
        {
            throw new RpcException(new Status(e.StatusCode, $"frame #{index}: {e.Status.Detail}"));
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.ResourceExhausted)
        {
            // Refused from its length prefix, before its bytes are buffered.
            throw new RpcException(new Status(StatusCode.ResourceExhausted,
                $"frame #{index}: the message exceeds the limit of {_options.Limits.MaxReceiveMessageBytes} bytes (Daemon:Limits:MaxReceiveMessageBytes)"));
        }
        catch (Google.Protobuf.InvalidProtocolBufferException e)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"frame #{index}: the message is not a valid SegmentRequest: {e.Message}"));
        }
        catch (InvalidDataException e)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"frame #{index}: the compressed message does not decompress: {e.Message}"));
        }
    }

    public override Task<DaemonInfo> GetInfo(GetInfoRequest request, ServerCallContext context)
    {
        var stages = active.Stages;
        var source = active.Source;
        var info = new DaemonInfo
        {
            DaemonVersion = Version,
            Source = new SourceInfo
            {
                Description = source?.Spec.ToString() ?? _options.Source.Uri,
                Kind = source?.Spec.Kind.ToString() ?? "",
                Width = (uint)(source?.Properties.Width ?? 0),
                Height = (uint)(source?.Properties.Height ?? 0),
                Fps = source?.Properties.Fps ?? 0,
                State = state.SourceState,
                FramesCaptured = (ulong)(source?.FramesRead ?? 0),
            },
            PipelineFps = metrics.Fps,
            Subscribers = (uint)publisher.Subscribers.Count,
            DefaultEncoding = _options.Stream.DefaultEncoding,
            MaxReceiveMessageBytes = (uint)_options.Limits.MaxReceiveMessageBytes,
            MaxSendMessageBytes = (uint)_options.Limits.MaxSendMessageBytes,
            MaxFrameWidth = (uint)_options.Limits.MaxFrameWidth,
            MaxFrameHeight = (uint)_options.Limits.MaxFrameHeight,
            Ready = state.Serving,
            NotReadyReason = state.NotServingReason,
            UptimeSeconds = (DateTimeOffset.UtcNow - state.StartedAt).TotalSeconds,
            Onnxruntime = OrtRuntimeText(),
        };
        info.Encodings.AddRange(ClientMaskOptions.Supported);
        if (stages is not null)
        {
            var m = stages.Model.Manifest;
            info.Model = new ModelInfo
            {
                Id = m.ModelId,
                Version = m.Version,
                Architecture = m.Architecture,
                OnnxSha256 = m.OnnxSha256,
                Threshold = (float)m.Output.Threshold,
                Precision = m.Precision,
            };
            info.Model.InputShape.AddRange([1, 3, stages.Model.Height, stages.Model.Width]);
            info.ExecutionProvider = stages.Model.ExecutionProvider.Name;
            info.ProviderFailures.AddRange(stages.Model.ProviderFailures.Select(f => $"{f.Provider.Name}: {f.Reason}"));
        }
        return Task.FromResult(info);
    }

    private static string OrtRuntimeText() =>
        M2SNet.Edge.Inference.OrtEnvironment.IsInitialized ? $"{M2SNet.Edge.Inference.OrtEnvironment.Instance.Version} ({M2SNet.Edge.Inference.OrtEnvironment.Flavor})" : "";

    /// <summary>Waits while the model is loading; UNAVAILABLE with the reason if it failed.</summary>
    private async Task WaitUntilReady(CancellationToken cancel)
    {
        while (true)
        {
            var changed = state.Changed;
            switch (state.Readiness)
            {
                case Readiness.Ready when active.Stages is not null:
                    return;
                case Readiness.Failed:
                    throw new RpcException(new Status(StatusCode.Unavailable, $"the model is not usable: {state.Reason}"));
            }
            await changed.WaitAsync(cancel).ConfigureAwait(false);
        }
    }
}
