using Google.Protobuf;
using M2SNet.Edge.Daemon.Pipeline;
using M2SNet.Edge.OpenCv;
using M2SNet.Edge.Protocol;
using M2SNet.Edge.Protocol.V1;
using M2SNet.Edge.Video;
using OcvRect = M2SNet.Edge.OpenCv.Rect;

namespace M2SNet.Edge.Daemon.Streaming;

/// <summary>
/// Turns a segmentation result into the message one client asked for. Encodings (a bit-packed
/// mask, runs, a PNG, the JPEG frame) are made once per result and shared by every client that
/// asks for the same thing; only the per-client envelope (timestamps, drop count) is built per client.
/// </summary>
public static class MaskEncoder
{
    private const int BinaryKind = 100;
    private const int ProbabilityKind = 101;
    private const int JpegKind = 102;

    // Monotonic ns → Unix ns, fixed at start-up (wall-clock steps do not move monotonic timestamps).
    private static readonly long s_unixOffsetNs = (DateTime.UtcNow - DateTime.UnixEpoch).Ticks * 100 - MonotonicClock.NowNs;

    public static long ToUnixNs(long monotonicNs) => monotonicNs + s_unixOffsetNs;

    /// <param name="sequence">The live frame number, or the position within a Segment call.</param>
    public static MaskMessage Encode(SegmentationResult result, long publishedNs, ClientMaskOptions options, long sequence, long droppedFrames, long skippedFrames = 0)
    {
        var encodeStart = MonotonicClock.NowNs;
        var frame = result.Frame;
        var message = new MaskMessage
        {
            Sequence = (ulong)sequence,
            SourceWidth = (uint)frame.Width,
            SourceHeight = (uint)frame.Height,
            RegionOfInterest = new Protocol.V1.Rect
            {
                X = (uint)result.RegionOfInterest.X,
                Y = (uint)result.RegionOfInterest.Y,
                Width = (uint)result.RegionOfInterest.Width,
                Height = (uint)result.RegionOfInterest.Height,
            },
            Model = new ModelRef { Id = result.Model.Id, Version = result.Model.Version },
            DroppedFrames = (ulong)droppedFrames,
            SkippedFrames = (ulong)skippedFrames,
            OverlayEnabled = result.Presentation.OverlayEnabled,
            Frozen = result.Presentation.Frozen,
        };
        if (options.Encoding != MaskEncoding.None) message.Mask = MaskFor(result, options);
        if (options.IncludeFrameJpeg) message.FrameJpeg = Shared(result, new EncodingKey(JpegKind, 0, 0, options.JpegQuality), () => Jpeg(frame.Image, options.JpegQuality));

        var t = result.Times;
        var sendNs = MonotonicClock.NowNs;
        message.Timestamps = new Timestamps
        {
            CaptureNs = t.CaptureNs,
            PreprocessStartNs = t.PreprocessStartNs,
            PreprocessEndNs = t.PreprocessEndNs,
            InferenceStartNs = t.InferenceStartNs,
            InferenceEndNs = t.InferenceEndNs,
            PostprocessStartNs = t.PostprocessStartNs,
            PostprocessEndNs = t.PostprocessEndNs,
            PublishNs = publishedNs,
            SendNs = sendNs,
            SourceMs = frame.SourceTimestampMs,
            CaptureUnixNs = ToUnixNs(t.CaptureNs),
            SendUnixNs = ToUnixNs(sendNs),
        };
        var pre = t.PreprocessEndNs - t.PreprocessStartNs;
        var inf = t.InferenceEndNs - t.InferenceStartNs;
        var post = t.PostprocessEndNs - t.PostprocessStartNs;
        var encode = sendNs - encodeStart;
        message.Stages = new StageTimings
        {
            PreprocessUs = Micros(pre),
            InferenceUs = Micros(inf),
            PostprocessUs = Micros(post),
            EncodeUs = Micros(encode),
            QueuedUs = Micros(sendNs - t.CaptureNs - pre - inf - post - encode),
        };
        return message;
    }

    private static Mask MaskFor(SegmentationResult result, ClientMaskOptions options)
    {
        var (w, h) = options.Width == 0 ? (result.Frame.Width, result.Frame.Height) : (options.Width, options.Height);
        return Shared(result, new EncodingKey((int)options.Encoding, w, h, 0), () =>
        {
            var threshold = (float)result.Model.Threshold;
            switch (options.Encoding)
            {
                case MaskEncoding.ProbabilityU8:
                {
                    using var probability = new Mat();
                    Map(result, w, h, binary: false, probability);
                    var bytes = probability.AsSpan<byte>();
                    // Foreground has one definition, the binary mask's, whatever the encoding: a u8 cut would round differently.
                    var foreground = MaskCodec.CountForeground(BinaryAt(result, w, h).AsSpan<byte>());
                    return new Mask { Encoding = options.Encoding, Width = (uint)w, Height = (uint)h, Data = ByteString.CopyFrom(bytes), Threshold = threshold, ForegroundPixels = (uint)foreground };
                }
                default:
                {
                    var binary = BinaryAt(result, w, h);
                    var pixels = binary.AsSpan<byte>();
                    var mask = new Mask { Encoding = options.Encoding, Width = (uint)w, Height = (uint)h, Threshold = threshold };
                    int foreground;
                    switch (options.Encoding)
                    {
                        case MaskEncoding.Bitpacked:
                            mask.Data = UnsafeByteOperations.UnsafeWrap(MaskCodec.PackBits(pixels, w, h, out foreground));
                            break;
                        case MaskEncoding.Rle:
                            mask.Counts.AddRange(MaskCodec.EncodeRle(pixels, w, h, out foreground));
                            break;
                        case MaskEncoding.Png:
                            mask.Data = UnsafeByteOperations.UnsafeWrap(Cv2.ImEncode(".png", binary, Cv2.ImwritePngCompression, 1));
                            foreground = MaskCodec.CountForeground(pixels);
                            break;
                        default:
                            throw new ArgumentOutOfRangeException(nameof(options), options.Encoding, "not a mask encoding");
                    }
                    mask.ForegroundPixels = (uint)foreground;
                    return mask;
                }
            }
        });
    }

    /// <summary>The binary mask at the frame's size, or made again from the scores at another size.</summary>
    private static Mat BinaryAt(SegmentationResult result, int w, int h)
    {
        if (w == result.Frame.Width && h == result.Frame.Height) return result.Mask;
        return Shared(result, new EncodingKey(BinaryKind, w, h, 0), () =>
        {
            var mat = new Mat();
            Map(result, w, h, binary: true, mat);
            return mat;
        });
    }

    private static void Map(SegmentationResult result, int w, int h, bool binary, Mat destination)
    {
        var frame = result.Frame;
        var roi = result.RegionOfInterest;
        OcvRect scaled = roi;
        if (w != frame.Width || h != frame.Height)
        {
            // The field of view, in the requested size's pixels.
            double sx = w / (double)frame.Width, sy = h / (double)frame.Height;
            var x = (int)Math.Round(roi.X * sx);
            var y = (int)Math.Round(roi.Y * sy);
            scaled = new OcvRect(x, y, Math.Clamp((int)Math.Round(roi.Width * sx), 1, w - x), Math.Clamp((int)Math.Round(roi.Height * sy), 1, h - y));
        }
        FrameOps.ScoresToMap(result.Scores, result.ScoresHeight, result.ScoresWidth, result.Model.OutputsLogits, binary, result.Model.Threshold,
            scaled, new Size(w, h), destination);
    }

    private static ByteString Jpeg(Mat image, int quality) =>
        UnsafeByteOperations.UnsafeWrap(Cv2.ImEncode(".jpg", image, Cv2.ImwriteJpegQuality, quality));

    private static T Shared<T>(SegmentationResult result, EncodingKey key, Func<T> make) where T : class =>
        (T)result.Encodings.GetOrAdd(key, _ => new Lazy<object>(() => make(), LazyThreadSafetyMode.ExecutionAndPublication)).Value;

    private static uint Micros(long ns) => (uint)Math.Clamp(ns / 1000, 0, uint.MaxValue);
}
