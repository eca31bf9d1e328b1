using System.Diagnostics;
using System.Text.Json.Serialization;
using M2SNet.Edge.OpenCv;
using M2SNet.Edge.Synthetic;
using M2SNet.Edge.Video;

namespace M2SNet.Edge.Bench;

/// <summary>
/// Decoding and preprocessing 1080p video: decode time per frame and the one-call native
/// preprocessing (crop, resize to 352, BGR→RGB, normalise, planar float), against the same
/// preprocessing written plainly in C# as the baseline.
/// </summary>
public static class VideoIngestBenchmark
{
    public sealed record Report(
        [property: JsonPropertyName("benchmark")] string Benchmark,
        [property: JsonPropertyName("machine")] MachineInfo Machine,
        [property: JsonPropertyName("opencv")] string OpenCv,
        [property: JsonPropertyName("video")] string Video,
        [property: JsonPropertyName("frames")] int Frames,
        [property: JsonPropertyName("decode_fps")] double DecodeFps,
        [property: JsonPropertyName("decode")] LatencyStats Decode,
        [property: JsonPropertyName("preprocess_native")] LatencyStats PreprocessNative,
        [property: JsonPropertyName("preprocess_managed_baseline")] LatencyStats PreprocessManaged,
        [property: JsonPropertyName("native_speedup")] double NativeSpeedup,
        [property: JsonPropertyName("realtime_headroom_at_30fps")] double Headroom);

    public static Report Run(bool quick, Action<string> progress)
    {
        const int size = 352;
        var dir = Directory.CreateTempSubdirectory("m2s-bench-video-");
        try
        {
            var path = Path.Combine(dir.FullName, "fullhd.mp4");
            progress("writing a 1080p test video");
            SampleVideo.Write(path, seed: 3, seconds: quick ? 1 : 4, fps: 30, width: 1920, height: 1080);

            using var capture = new VideoCapture(path, VideoCaptureAPIs.FFmpeg);
            using var frame = new Mat();
            var input = new float[3 * size * size];
            var decode = new List<double>();
            var native = new List<double>();
            var managed = new List<double>();
            var total = Stopwatch.StartNew();
            var roi = new Rect(160, 60, 1600, 960);
            while (true)
            {
                var t = Stopwatch.GetTimestamp();
                if (!capture.Read(frame)) break;
                decode.Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
                t = Stopwatch.GetTimestamp();
                FrameOps.Preprocess(frame, roi, size, size, Normalization.ImageNetMean, Normalization.ImageNetStd, input);
                native.Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
                if (managed.Count < (quick ? 3 : 10))
                {
                    var pixels = frame.AsSpan<byte>().ToArray();
                    t = Stopwatch.GetTimestamp();
                    ManagedPreprocess(pixels, frame.Cols, roi, size, input);
                    managed.Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
                }
            }
            var decodeSeconds = decode.Sum() / 1000;
            var decodeStats = LatencyStats.From(decode);
            var nativeStats = LatencyStats.From(native);
            return new Report("video-ingest", MachineInfo.Current(), Cv2.Version, "1920x1080 mp4v 30 fps", decode.Count,
                decode.Count / decodeSeconds, decodeStats, nativeStats, LatencyStats.From(managed),
                LatencyStats.From(managed).Median / nativeStats.Median,
                (1000.0 / 30) / (decodeStats.Median + nativeStats.Median));
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    /// <summary>The same preprocessing written plainly: bilinear sampling per output pixel.</summary>
    private static void ManagedPreprocess(byte[] px, int w, Rect roi, int size, float[] output)
    {
        var mean = Normalization.ImageNetMean;
        var std = Normalization.ImageNetStd;
        var plane = size * size;
        for (var y = 0; y < size; y++)
        {
            var sy = Math.Clamp((y + 0.5) * roi.Height / size - 0.5, 0, roi.Height - 1);
            int y0 = (int)sy, y1 = Math.Min(y0 + 1, roi.Height - 1);
            var fy = sy - y0;
            for (var x = 0; x < size; x++)
            {
                var sx = Math.Clamp((x + 0.5) * roi.Width / size - 0.5, 0, roi.Width - 1);
                int x0 = (int)sx, x1 = Math.Min(x0 + 1, roi.Width - 1);
                var fx = sx - x0;
                for (var c = 0; c < 3; c++)
                {
                    double At(int yy, int xx) => px[((roi.Y + yy) * w + roi.X + xx) * 3 + (2 - c)];
                    var v = (1 - fy) * ((1 - fx) * At(y0, x0) + fx * At(y0, x1)) + fy * ((1 - fx) * At(y1, x0) + fx * At(y1, x1));
                    output[c * plane + y * size + x] = (float)((v / 255 - mean[c]) / std[c]);
                }
            }
        }
    }
}
