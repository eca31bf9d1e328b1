using System.Globalization;
using Grpc.Core;
using M2SNet.Edge.OpenCv;
using M2SNet.Edge.Protocol;
using M2SNet.Edge.Protocol.V1;
using Spectre.Console;

namespace M2SNet.Edge.Client;

/// <summary>One frame's round trip through <c>Segment</c>, in milliseconds, all on this client's clock where it can be.</summary>
public readonly record struct RoundTrip(ulong Sequence, double SentAtSeconds, double Total, double InDaemon, double Inference, double Transport);

/// <summary>
/// Glass-to-mask as a client that owns the camera sees it: frames of a local video are JPEG-encoded
/// here, sent through <c>Segment</c> at the video's rate, and each mask's arrival is timed against
/// the send time on this client's own clock (no clock synchronisation needed). Transport is the
/// round trip less the daemon's receive→send time: upload, download and the gRPC layers.
/// </summary>
public static class SegmentBench
{
    public static async Task<IReadOnlyList<RoundTrip>> RunAsync(DaemonConnection channel, string videoPath, TimeSpan duration, int warmupFrames,
        int jpegQuality, IProgress<string>? progress, CancellationToken cancel)
    {
        using var capture = new VideoCapture(videoPath);
        var fps = capture.Fps is > 0 and < 240 ? capture.Fps : 30;
        using var call = channel.Segmentation.Segment(new CallOptions(cancellationToken: cancel));
        var trips = new List<RoundTrip>();
        var start = LatencyRecorder.MonotonicNowNs;
        var reader = Task.Run(async () =>
        {
            while (await call.ResponseStream.MoveNext(cancel).ConfigureAwait(false))
            {
                var now = LatencyRecorder.MonotonicNowNs;
                var m = call.ResponseStream.Current;
                if ((long)m.ClientSequence <= warmupFrames) continue;
                var total = (now - m.ClientTimestampNs) / 1e6;
                var inDaemon = (m.Timestamps.SendNs - m.Timestamps.CaptureNs) / 1e6;
                lock (trips) trips.Add(new RoundTrip(m.ClientSequence, (m.ClientTimestampNs - start) / 1e9, total, inDaemon, m.Stages.InferenceUs / 1e3, total - inDaemon));
            }
        }, CancellationToken.None);

        using var frame = new Mat();
        ulong sent = 0;
        var end = start + (long)duration.TotalMilliseconds * 1_000_000 + (long)(warmupFrames * 1e9 / fps);
        while (LatencyRecorder.MonotonicNowNs < end && !cancel.IsCancellationRequested)
        {
            if (!capture.Read(frame))
            {
                capture.Set(VideoCaptureProperties.PosFrames, 0);
                if (!capture.Read(frame)) throw new IOException($"cannot read frames from {videoPath}");
            }
            var jpeg = Cv2.ImEncode(".jpg", frame, Cv2.ImwriteJpegQuality, jpegQuality);
            sent++;
            await call.RequestStream.WriteAsync(new SegmentRequest
            {
                Options = sent == 1 ? new MaskOptions { Encoding = MaskEncoding.Rle } : null,
                Frame = new Frame { Format = PixelFormat.Jpeg, Width = (uint)frame.Cols, Height = (uint)frame.Rows, Data = Google.Protobuf.ByteString.CopyFrom(jpeg) },
                ClientSequence = sent,
                ClientTimestampNs = LatencyRecorder.MonotonicNowNs,
            }, cancel).ConfigureAwait(false);
            if (sent % (ulong)Math.Max(1, fps) == 0) progress?.Report($"{sent} frames sent");
            // Paced as the camera delivers them.
            var due = start + (long)(sent * 1e9 / fps);
            var wait = due - LatencyRecorder.MonotonicNowNs;
            if (wait > 0) await Task.Delay(TimeSpan.FromTicks(wait / 100), cancel).ConfigureAwait(false);
        }
        await call.RequestStream.CompleteAsync().ConfigureAwait(false);
        await reader.ConfigureAwait(false);
        return trips;
    }

    /// <summary>The rows of the round-trip table, with their keys in the report.</summary>
    public static IReadOnlyList<(string Name, string Key, Func<RoundTrip, double> Value)> Rows { get; } =
    [
        ("sent → mask received", "round_trip", t => t.Total),
        ("  in the daemon (received → sent)", "in_daemon", t => t.InDaemon),
        ("    inference", "inference", t => t.Inference),
        ("  transport both ways, and waiting to be read", "transport_and_waiting", t => t.Transport),
    ];

    public static void PrintTable(IReadOnlyList<RoundTrip> trips)
    {
        var table = new Table().AddColumn("Segment round trip (ms)").AddColumn(new TableColumn("p50").RightAligned()).AddColumn(new TableColumn("p95").RightAligned())
            .AddColumn(new TableColumn("p99").RightAligned()).AddColumn(new TableColumn("max").RightAligned());
        static string F(double v) => v.ToString("F2", CultureInfo.InvariantCulture);
        foreach (var (name, _, values) in Rows)
        {
            var p = Percentiles.Of(trips.Select(values));
            table.AddRow(name, F(p.P50), F(p.P95), F(p.P99), F(p.Max));
        }
        AnsiConsole.Write(table);
        Console.WriteLine($"{trips.Count} frames after the warm-up");
    }
}
