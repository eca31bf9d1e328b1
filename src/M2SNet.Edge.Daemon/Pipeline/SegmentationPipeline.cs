using M2SNet.Edge.Deployment;
using M2SNet.Edge.Daemon.Observability;
using M2SNet.Edge.Daemon.Streaming;
using M2SNet.Edge.Video;
using Microsoft.Extensions.Logging;

namespace M2SNet.Edge.Daemon.Pipeline;

/// <summary>
/// The live data path of the appliance, composed here and nowhere else:
/// <code>
///   video source ──slot──▶ preprocess + infer ──slot──▶ postprocess ──▶ publisher ──slot per client──▶ gRPC streams
///   (capture thread)       (inference thread)          (thread)
/// </code>
/// Preprocessing runs on the inference thread just before the frame's inference: a separate stage
/// cost one more hand-off, whose thread wake-up waited for a core behind the decoder on a 2-core
/// appliance (its p95 was 3 ms), and preprocessed frames that were then dropped before inference.
/// <see cref="PipelineOptions.PreprocessOnInferenceThread"/> false restores the separate stage.
/// Every hand-off is a single-slot, drop-oldest <see cref="LatestSlot{T}"/>: the newest frame
/// always wins and a slow stage never builds a queue, so latency stays one frame deep. Each
/// stage does one job and stamps its start and end, so latency is attributed per stage.
/// A frame takes the active model when its preprocessing starts and keeps it to the end, so a
/// model swap (<see cref="ActivePipeline.Swap"/>) falls between two frames.
/// </summary>
public sealed class SegmentationPipeline : IDisposable
{
    private readonly VideoSource _source;
    private readonly ActivePipeline _active;
    private readonly MaskPublisher _publisher;
    private readonly PipelineMetrics _metrics;
    private readonly ILogger _log;
    private readonly LatestSlot<FrameInFlight> _toInference;
    private readonly LatestSlot<FrameInFlight> _toPostprocess;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Thread> _threads = [];

    private readonly bool _preprocessOnInferenceThread;
    private readonly TimeSpan _stageSlice;

    public SegmentationPipeline(VideoSource source, ActivePipeline active, MaskPublisher publisher, PipelineMetrics metrics, ILogger log,
        bool preprocessOnInferenceThread = true, TimeSpan stageSlice = default, bool lockFreeWake = true)
    {
        _toInference = new(lockFreeWake);
        _toPostprocess = new(lockFreeWake);
        _preprocessOnInferenceThread = preprocessOnInferenceThread;
        _stageSlice = stageSlice;
        _source = source;
        _active = active;
        _publisher = publisher;
        _metrics = metrics;
        _log = log;
    }

    /// <summary>Frames dropped at each hand-off because the next stage was still busy.</summary>
    public (long BeforePreprocess, long BeforeInference, long BeforePostprocess) Dropped =>
        (_source.Frames.Dropped, _toInference.Dropped, _toPostprocess.Dropped);

    public long FramesPublished { get; private set; }

    public void Start()
    {
        if (_preprocessOnInferenceThread)
        {
            Spawn("m2s-inference", PreprocessAndInferenceLoop);
        }
        else
        {
            Spawn("m2s-preprocess", PreprocessLoop);
            Spawn("m2s-inference", InferenceLoop);
        }
        Spawn("m2s-postprocess", PostprocessLoop);
    }

    private void PreprocessAndInferenceLoop(CancellationToken stop)
    {
        while (_source.Frames.Take(stop) is { } frame)
        {
            if (FrameInFlight.Start(frame, _active) is not { } work) continue;
            work.Preprocess();
            work.Infer();
            _toPostprocess.Publish(work);
        }
        _toPostprocess.Complete();
    }

    private void PreprocessLoop(CancellationToken stop)
    {
        while (_source.Frames.Take(stop) is { } frame)
        {
            if (FrameInFlight.Start(frame, _active) is not { } work) continue;
            work.Preprocess();
            _toInference.Publish(work);
        }
        _toInference.Complete();
    }

    private void InferenceLoop(CancellationToken stop)
    {
        while (_toInference.Take(stop) is { } work)
        {
            work.Infer();
            _toPostprocess.Publish(work);
        }
        _toPostprocess.Complete();
    }

    private void PostprocessLoop(CancellationToken stop)
    {
        while (_toPostprocess.Take(stop) is { } work)
        {
            SegmentationResult result;
            using (work) result = work.Postprocess(_active.Presentation);
            _metrics.RecordFrame(result.Times);
            _publisher.Publish(result);
            FramesPublished++;
        }
    }

    private void Spawn(string name, Action<CancellationToken> loop)
    {
        var thread = new Thread(() =>
        {
            if (_stageSlice > TimeSpan.Zero && !Video.ThreadNice.RequestSlice(_stageSlice))
            {
                _log.LogDebug("Stage {Stage} keeps the scheduler's default time slice (this kernel takes no slice request)", name);
            }
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

    public void Dispose()
    {
        _stop.Cancel();
        _toInference.Complete();
        _toPostprocess.Complete();
        foreach (var t in _threads) t.Join(TimeSpan.FromSeconds(10));
        _toInference.Dispose();
        _toPostprocess.Dispose();
        _stop.Dispose();
    }
}
