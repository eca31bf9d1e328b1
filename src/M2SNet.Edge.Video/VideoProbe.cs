using System.Diagnostics;
using M2SNet.Edge.OpenCv;

namespace M2SNet.Edge.Video;

/// <summary>What a probe of a source found: its properties, decode speed and preprocessing cost.</summary>
public sealed record ProbeResult(
    VideoProperties Properties, double OpenMilliseconds, int Frames, double DecodeFps,
    double DecodeMedianMs, double DecodeP99Ms, double PreprocessMedianMs, double PreprocessP99Ms, int InputSize, string? Stopped);

/// <summary>Opens a source, decodes frames as fast as they come, and preprocesses each for the network.</summary>
public static class VideoProbe
{
    public static ProbeResult Run(VideoSourceOptions options, int frames, int inputSize = 352)
    {
        var clock = Stopwatch.StartNew();
        using var capture = VideoSource.OpenCapture(options, out var properties);
        var openMs = clock.Elapsed.TotalMilliseconds;
        var decode = new List<double>(frames);
        var preprocess = new List<double>(frames);
        var input = new float[3 * inputSize * inputSize];
        using var frame = new Mat();
        string? stopped = null;
        var total = Stopwatch.StartNew();
        for (var i = 0; i < frames; i++)
        {
            var t = Stopwatch.GetTimestamp();
            if (!capture.Read(frame))
            {
                stopped = i == 0 ? $"no frame could be read: {capture.LastReadError}" : $"stopped after {i} frames: {capture.LastReadError}";
                break;
            }
            decode.Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
            t = Stopwatch.GetTimestamp();
            FrameOps.Preprocess(frame, Rect.Of(frame), inputSize, inputSize, Normalization.ImageNetMean, Normalization.ImageNetStd, input);
            preprocess.Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
        }
        var seconds = total.Elapsed.TotalSeconds - preprocess.Sum() / 1000;
        return new ProbeResult(properties, openMs, decode.Count, decode.Count / Math.Max(seconds, 1e-9),
            Percentile(decode, 50), Percentile(decode, 99), Percentile(preprocess, 50), Percentile(preprocess, 99), inputSize, stopped);
    }

    private static double Percentile(List<double> values, double p)
    {
        if (values.Count == 0) return double.NaN;
        var sorted = values.Order().ToArray();
        return sorted[Math.Clamp((int)Math.Ceiling(p / 100 * sorted.Length) - 1, 0, sorted.Length - 1)];
    }
}

/// <summary>The ImageNet statistics the networks are trained with (RGB).</summary>
public static class Normalization
{
    public static readonly float[] ImageNetMean = [0.485f, 0.456f, 0.406f];
    public static readonly float[] ImageNetStd = [0.229f, 0.224f, 0.225f];
}
