using M2SNet.Edge.Deployment;
using M2SNet.Edge.OpenCv;
using M2SNet.Edge.Video;

namespace M2SNet.Edge.Daemon.Pipeline;

/// <summary>
/// The work done on a frame, stage by stage, for the live pipeline and for frames clients send:
/// each stage is one native call around the network (see FrameOps) and records its timestamps.
/// </summary>
public sealed class FrameStages(SegmentationModel model, ModelIdentity identity)
{
    private readonly float[] _mean = model.Manifest.Input.Mean;
    private readonly float[] _std = model.Manifest.Input.Std;

    public SegmentationModel Model { get; } = model;

    public ModelIdentity Identity { get; } = identity;

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
    public SegmentationResult Postprocess(Frame frame, InferenceBuffers buffers, bool overlayEnabled, StageTimes times)
    {
        times.PostprocessStartNs = MonotonicClock.NowNs;
        var scores = SegmentationResult.ScorePool.Rent(buffers.Output.Length);
        buffers.Output.AsSpan().CopyTo(scores);
        var mask = new Mat();
        FrameOps.ScoresToMap(scores.AsSpan(0, buffers.Output.Length), Model.Height, Model.Width, Identity.OutputsLogits, binary: true, Identity.Threshold,
            frame.RegionOfInterest, frame.Image.Size, mask);
        times.PostprocessEndNs = MonotonicClock.NowNs;
        return new SegmentationResult(frame, scores, Model.Height, Model.Width, mask, Identity, overlayEnabled, times);
    }
}
