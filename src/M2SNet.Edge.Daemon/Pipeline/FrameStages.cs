using System.Collections.Concurrent;
using M2SNet.Edge.Deployment;
using M2SNet.Edge.OpenCv;
using M2SNet.Edge.Video;

namespace M2SNet.Edge.Daemon.Pipeline;

/// <summary>What the OR display should do with a frame: the foot pedal switches these.</summary>
public readonly record struct Presentation(bool OverlayEnabled, bool Frozen);

/// <summary>
/// The work done on a frame by one model, stage by stage, for the live pipeline and for frames
/// clients send: each stage is one native call around the network (see FrameOps) and records its
/// timestamps. Leased: every frame in flight holds a lease on the stages that started it, so a
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
    public void Preprocess(Frame frame, InferenceBuffers buffers, ref StageTimes times)
    {
        times.PreprocessStartNs = MonotonicClock.NowNs;
        FrameOps.Preprocess(frame.Image, frame.RegionOfInterest, Model.Width, Model.Height, _mean, _std, buffers.Input);
        times.PreprocessEndNs = MonotonicClock.NowNs;
    }

    public void Infer(InferenceBuffers buffers, ref StageTimes times)
    {
        times.InferenceStartNs = MonotonicClock.NowNs;
        Model.Run(buffers);
        times.InferenceEndNs = MonotonicClock.NowNs;
    }

    /// <summary>Scores → binary mask at the frame's size (bilinear on the scores, then the manifest's threshold).</summary>
    public SegmentationResult Postprocess(Frame frame, InferenceBuffers buffers, Presentation presentation, StageTimes times)
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
    public InferenceBuffers RentBuffers()
    {
        if (_freeBuffers.TryTake(out var buffers)) return buffers;
        buffers = Model.CreateBuffers();
        lock (_allBuffers) _allBuffers.Add(buffers);
        return buffers;
    }

    public void ReturnBuffers(InferenceBuffers buffers) => _freeBuffers.Add(buffers);

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
