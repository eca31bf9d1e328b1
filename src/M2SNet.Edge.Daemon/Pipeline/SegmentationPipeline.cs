using System.Collections.Concurrent;
using M2SNet.Edge.Deployment;
using M2SNet.Edge.Daemon.Observability;
using M2SNet.Edge.Daemon.Streaming;
using M2SNet.Edge.Video;
using Microsoft.Extensions.Logging;

namespace M2SNet.Edge.Daemon.Pipeline;

/// <summary>
/// The live data path of the appliance, composed here and nowhere else:
/// <code>
///   video source ──slot──▶ preprocess ──slot──▶ infer ──slot──▶ postprocess ──▶ publisher ──slot per client──▶ gRPC streams
///   (capture thread)       (thread)            (thread)        (thread)
/// </code>
/// Every hand-off is a single-slot, drop-oldest <see cref="LatestSlot{T}"/>: the newest frame
/// always wins and a slow stage never builds a queue, so latency stays one frame deep. Each
/// stage does one job and stamps its start and end, so latency is attributed per stage.
/// </summary>
public sealed class SegmentationPipeline : IDisposable
{
    private readonly VideoSource _source;
    private readonly FrameStages _stages;
    private readonly MaskPublisher _publisher;
    private readonly PipelineMetrics _metrics;
    private readonly Func<bool> _overlayEnabled;
    private readonly ILogger _log;
    private readonly LatestSlot<FrameInFlight> _toInference = new();
    private readonly LatestSlot<FrameInFlight> _toPostprocess = new();
    private readonly ConcurrentBag<InferenceBuffers> _buffers = [];
    private readonly List<InferenceBuffers> _allBuffers = [];
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Thread> _threads = [];

    public SegmentationPipeline(VideoSource source, FrameStages stages, MaskPublisher publisher, PipelineMetrics metrics,
        Func<bool> overlayEnabled, ILogger log)
    {
        _source = source;
        _stages = stages;
        _publisher = publisher;
        _metrics = metrics;
        _overlayEnabled = overlayEnabled;
        _log = log;
    }

    /// <summary>Frames dropped at each hand-off because the next stage was still busy.</summary>
    public (long BeforePreprocess, long BeforeInference, long BeforePostprocess) Dropped =>
        (_source.Frames.Dropped, _toInference.Dropped, _toPostprocess.Dropped);

    public long FramesPublished { get; private set; }

    public void Start()
    {
        Spawn("m2s-preprocess", PreprocessLoop);
        Spawn("m2s-inference", InferenceLoop);
        Spawn("m2s-postprocess", PostprocessLoop);
    }

    private void PreprocessLoop(CancellationToken stop)
    {
        while (_source.Frames.Take(stop) is { } frame)
        {
            var work = new FrameInFlight(frame, RentBuffers(), this);
            work.Times.CaptureNs = frame.CaptureTimestampNs;
            _stages.Preprocess(frame, work.Buffers, ref work.Times);
            _toInference.Publish(work);
        }
        _toInference.Complete();
    }

    private void InferenceLoop(CancellationToken stop)
    {
        while (_toInference.Take(stop) is { } work)
        {
            _stages.Infer(work.Buffers, ref work.Times);
            _toPostprocess.Publish(work);
        }
        _toPostprocess.Complete();
    }

    private void PostprocessLoop(CancellationToken stop)
    {
        while (_toPostprocess.Take(stop) is { } work)
        {
            var result = _stages.Postprocess(work.TakeFrame(), work.Buffers, _overlayEnabled(), work.Times);
            work.Dispose();
            _metrics.RecordFrame(result.Times);
            _publisher.Publish(result);
            FramesPublished++;
        }
    }

    private void Spawn(string name, Action<CancellationToken> loop)
    {
        var thread = new Thread(() =>
        {
            try
            {
                loop(_stop.Token);
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested)
            {
            }
            catch (Exception e)
            {
                // A stage that throws stops the pipeline; the watchdog (no frames) and the log say why.
                _log.LogCritical(e, "Pipeline stage {Stage} failed; no more frames will be segmented", name);
                _metrics.StageFailed(name, e.Message);
            }
        })
        { IsBackground = true, Name = name, Priority = ThreadPriority.AboveNormal };
        _threads.Add(thread);
        thread.Start();
    }

    private InferenceBuffers RentBuffers()
    {
        if (_buffers.TryTake(out var buffers)) return buffers;
        buffers = _stages.Model.CreateBuffers();
        lock (_allBuffers) _allBuffers.Add(buffers);
        return buffers;
    }

    public void Dispose()
    {
        _stop.Cancel();
        _toInference.Complete();
        _toPostprocess.Complete();
        foreach (var t in _threads) t.Join(TimeSpan.FromSeconds(10));
        _toInference.Dispose();
        _toPostprocess.Dispose();
        lock (_allBuffers)
        {
            foreach (var b in _allBuffers) b.Dispose();
        }
        _stop.Dispose();
    }

    /// <summary>A frame between stages, with the tensors it is using; dropping it returns both.</summary>
    private sealed class FrameInFlight(Frame frame, InferenceBuffers buffers, SegmentationPipeline owner) : IDisposable
    {
        private Frame? _frame = frame;
        private int _disposed;
        public StageTimes Times;

        public InferenceBuffers Buffers { get; } = buffers;

        public Frame TakeFrame()
        {
            var f = _frame ?? throw new InvalidOperationException("the frame was already taken");
            _frame = null;
            return f;
        }

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 1) return;
            _frame?.Dispose();
            _frame = null;
            owner._buffers.Add(Buffers);
        }
    }
}
