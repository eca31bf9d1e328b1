using System.Collections.Concurrent;
using M2SNet.Edge.OpenCv;
using M2SNet.Edge.Video;

namespace M2SNet.Edge.Daemon.Pipeline;

/// <summary>Monotonic timestamps (ns) of one frame's way through the stages.</summary>
public struct StageTimes
{
    public long CaptureNs;
    public long PreprocessStartNs;
    public long PreprocessEndNs;
    public long InferenceStartNs;
    public long InferenceEndNs;
    public long PostprocessStartNs;
    public long PostprocessEndNs;
}

/// <summary>
/// One segmented frame, shared by every client it goes to: the frame, the network's scores, the
/// binary mask at the frame's size, and the encodings made from them so far (each made once,
/// by the first client that asks). Reference-counted: the last holder to release it returns the
/// frame to its pool.
/// </summary>
public sealed class SegmentationResult
{
    /// <summary>Score buffers are reused: a fresh 200 KB array per frame would land on the large-object heap and bring full collections.</summary>
    internal static readonly System.Buffers.ArrayPool<float> ScorePool = System.Buffers.ArrayPool<float>.Create(1 << 24, 16);

    private readonly float[] _scores;
    private int _references = 1;

    /// <param name="scores">Rented from <see cref="ScorePool"/>; returned when the last holder releases the result.</param>
    internal SegmentationResult(Frame frame, float[] scores, int scoresHeight, int scoresWidth, Mat mask, ModelIdentity model, Presentation presentation, StageTimes times)
    {
        Frame = frame;
        _scores = scores;
        ScoresHeight = scoresHeight;
        ScoresWidth = scoresWidth;
        Mask = mask;
        Model = model;
        Presentation = presentation;
        Times = times;
    }

    public Frame Frame { get; }

    public long Sequence => Frame.Sequence;

    public Rect RegionOfInterest => Frame.RegionOfInterest;

    /// <summary>The network's output (logits or probabilities, per <see cref="ModelIdentity.OutputsLogits"/>), ScoresHeight × ScoresWidth.</summary>
    public ReadOnlySpan<float> Scores => _scores.AsSpan(0, ScoresHeight * ScoresWidth);

    public int ScoresHeight { get; }

    public int ScoresWidth { get; }

    /// <summary>Lesion (255) or not (0), at the frame's size.</summary>
    public Mat Mask { get; }

    public ModelIdentity Model { get; }

    public Presentation Presentation { get; }

    public StageTimes Times { get; }

    /// <summary>Encodings made for clients, keyed by what they are (encoding, size, JPEG quality).</summary>
    internal ConcurrentDictionary<EncodingKey, Lazy<object>> Encodings { get; } = new();

    /// <summary>A lease for one more holder (a client's slot); dispose it to release.</summary>
    public Lease Acquire()
    {
        Interlocked.Increment(ref _references);
        return new Lease(this);
    }

    /// <summary>Releases the creator's reference.</summary>
    public void Release()
    {
        if (Interlocked.Decrement(ref _references) != 0) return;
        Frame.Dispose();
        Mask.Dispose();
        ScorePool.Return(_scores);
        foreach (var made in Encodings.Values)
        {
            if (made.IsValueCreated && made.Value is IDisposable native) native.Dispose();
        }
    }

    public sealed class Lease(SegmentationResult result) : IDisposable
    {
        private int _released;

        public SegmentationResult Result { get; } = result;

        /// <summary>When the result was handed to this holder (monotonic ns).</summary>
        public long PublishedNs { get; } = MonotonicClock.NowNs;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0) Result.Release();
        }
    }
}

/// <summary>What an encoding cache entry is.</summary>
internal readonly record struct EncodingKey(int Kind, int Width, int Height, int Quality);

/// <summary>The model a result came from, as clients see it.</summary>
public sealed record ModelIdentity(string Id, string Version, bool OutputsLogits, double Threshold);
