using System.Collections.Concurrent;
using M2SNet.Edge.Deployment;
using M2SNet.Edge.OpenCv;
using M2SNet.Edge.Video;

namespace M2SNet.Edge.Daemon.Pipeline;

/// <summary>What the OR display should do with a frame: the foot pedal switches these.</summary>
public readonly record struct Presentation(bool OverlayEnabled, bool Frozen);

/// <summary>
/// The work done on a frame by one model: each stage is one native call around the network (see
/// FrameOps) and records its timestamps. Frames go through it only as a <see cref="FrameInFlight"/>,
/// which fixes the order of the stages for the live pipeline and for frames clients send. Leased: every frame in flight holds a lease on the stages that started it, so a
/// model swapped out mid-frame finishes that frame and is disposed after the last lease ends.
/// </summary>
public sealed class FrameStages(SegmentationModel model, ModelIdentity identity)
{
    private readonly float[] _mean = model.Manifest.Input.Mean;
    private readonly float[] _std = model.Manifest.Input.Std;
    private readonly ConcurrentBag<InferenceBuffers> _freeBuffers = [];
    private readonly List<InferenceBuffers> _allBuffers = [];

    // One lease belongs to whoever installed the stages (ActivePipeline); it ends at Retire.
    private int _leases = 1;

    public SegmentationModel Model { get; } = model;

    public ModelIdentity Identity { get; } = identity;

    /// <summary>Whether the model was swapped out and released (no new frames may start on it).</summary>
    public bool Retired => Volatile.Read(ref _leases) == 0;

    /// <summary>Field of view → network input (crop, resize, BGR→RGB, normalise).</summary>
    internal void Preprocess(Frame frame, InferenceBuffers buffers, ref StageTimes times)
    {
        times.PreprocessStartNs = MonotonicClock.NowNs;
        FrameOps.Preprocess(frame.Image, frame.RegionOfInterest, Model.Width, Model.Height, _mean, _std, buffers.Input);
        times.PreprocessEndNs = MonotonicClock.NowNs;
    }

    internal void Infer(InferenceBuffers buffers, ref StageTimes times)
    {
        times.InferenceStartNs = MonotonicClock.NowNs;
        Model.Run(buffers);
        times.InferenceEndNs = MonotonicClock.NowNs;
    }

    /// <summary>Scores → binary mask at the frame's size (bilinear on the scores, then the manifest's threshold).</summary>
    internal SegmentationResult Postprocess(Frame frame, InferenceBuffers buffers, Presentation presentation, StageTimes times)
    {
        times.PostprocessStartNs = MonotonicClock.NowNs;
        var scores = SegmentationResult.ScorePool.Rent(buffers.Output.Length);
        buffers.Output.AsSpan().CopyTo(scores);
        var mask = new Mat();
        FrameOps.ScoresToMap(scores.AsSpan(0, buffers.Output.Length), Model.Height, Model.Width, Identity.OutputsLogits, binary: true, Identity.Threshold,
            frame.RegionOfInterest, frame.Image.Size, mask);
        times.PostprocessEndNs = MonotonicClock.NowNs;
        return new SegmentationResult(frame, scores, Model.Height, Model.Width, mask, Identity, presentation, times);
    }

    /// <summary>Tensors bound to this model's session, reused frame after frame.</summary>
    internal InferenceBuffers RentBuffers()
    {
        if (_freeBuffers.TryTake(out var buffers)) return buffers;
        buffers = Model.CreateBuffers();
        lock (_allBuffers) _allBuffers.Add(buffers);
        return buffers;
    }

    internal void ReturnBuffers(InferenceBuffers buffers) => _freeBuffers.Add(buffers);

    /// <summary>A lease for one frame (or call); false once the stages are retired.</summary>
    internal bool TryAcquire()
    {
        while (true)
        {
            var n = Volatile.Read(ref _leases);
            if (n == 0) return false;
            if (Interlocked.CompareExchange(ref _leases, n + 1, n) == n) return true;
        }
    }

    internal void Release()
    {
        var left = Interlocked.Decrement(ref _leases);
        if (left < 0) throw new InvalidOperationException("a lease on the model's stages was released twice");
        if (left > 0) return;
        lock (_allBuffers)
        {
            foreach (var b in _allBuffers) b.Dispose();
            _allBuffers.Clear();
        }
        Model.Dispose();
    }

    /// <summary>Ends the installer's lease: the model is disposed once its last frame is done.</summary>
    internal void Retire() => Release();
}

/// <summary>
/// One frame on its way through the stages: the one place that composes a frame's path,
/// preprocess → infer → postprocess, for the live pipeline (a stage per thread, handed on between
/// them) and for a client's Segment call (all three in a row, <see cref="Run"/>). It holds the
/// model's lease and the tensors it uses from <see cref="Start"/> to <see cref="Dispose"/>; each
/// step refuses to run out of order. The result then goes to <c>MaskEncoder</c> per client.
/// </summary>
public sealed class FrameInFlight : IDisposable
{
    private enum Step { Started, Preprocessed, Inferred, Done }

    private Frame? _frame;
    private Step _step;
    private StageTimes _times;
    private int _disposed;

    private FrameInFlight(Frame frame, FrameStages stages)
    {
        _frame = frame;
        Stages = stages;
        Buffers = stages.RentBuffers();
        _times.CaptureNs = frame.CaptureTimestampNs;
    }

    /// <summary>The model this frame runs on to its end, even if another is swapped in meanwhile.</summary>
    public FrameStages Stages { get; }

    private InferenceBuffers Buffers { get; }

    /// <summary>Takes the active model for <paramref name="frame"/>; null (and the frame disposed) when no model is installed.</summary>
    public static FrameInFlight? Start(Frame frame, ActivePipeline active)
    {
        var stages = active.AcquireStages();
        if (stages is null)
        {
            frame.Dispose();
            return null;
        }
        return new FrameInFlight(frame, stages);
    }

    public void Preprocess()
    {
        Expect(Step.Started);
        Stages.Preprocess(_frame!, Buffers, ref _times);
        _step = Step.Preprocessed;
    }

    public void Infer()
    {
        Expect(Step.Preprocessed);
        Stages.Infer(Buffers, ref _times);
        _step = Step.Inferred;
    }

    /// <summary>The mask at the frame's size; the result owns the frame from here on.</summary>
    public SegmentationResult Postprocess(Presentation presentation)
    {
        Expect(Step.Inferred);
        var frame = _frame!;
        var result = Stages.Postprocess(frame, Buffers, presentation, _times);
        _frame = null;
        _step = Step.Done;
        return result;
    }

    /// <summary>All stages in a row on the calling thread (a frame a client sent).</summary>
    public SegmentationResult Run(Presentation presentation)
    {
        Preprocess();
        Infer();
        return Postprocess(presentation);
    }

    private void Expect(Step step)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) == 1, this);
        if (_step != step) throw new InvalidOperationException($"a frame at step {_step} cannot run the step after {step}");
    }

    /// <summary>Returns the tensors and the model's lease; a frame dropped before its result is freed.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1) return;
        _frame?.Dispose();
        _frame = null;
        Stages.ReturnBuffers(Buffers);
        Stages.Release();
    }
}
