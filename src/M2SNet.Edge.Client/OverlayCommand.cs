using System.CommandLine;
using System.Globalization;
using Grpc.Core;
using M2SNet.Edge.OpenCv;
using M2SNet.Edge.Protocol;
using M2SNet.Edge.Protocol.V1;

namespace M2SNet.Edge.Client;

/// <summary>How the mask is drawn over the video.</summary>
public sealed record OverlayStyle(Scalar Colour, double Opacity, bool Contour)
{
    public static Scalar ParseColour(string text) => text.ToLowerInvariant() switch
    {
        "green" => new Scalar(60, 220, 60),
        "yellow" => new Scalar(0, 230, 255),
        "cyan" => new Scalar(255, 220, 0),
        "magenta" => new Scalar(230, 60, 230),
        "red" => new Scalar(40, 40, 230),
        _ when text.StartsWith('#') && text.Length == 7 && int.TryParse(text[1..], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var rgb)
            => new Scalar(rgb & 0xFF, (rgb >> 8) & 0xFF, (rgb >> 16) & 0xFF),
        _ => throw new ArgumentException($"--colour '{text}' is not green, yellow, cyan, magenta, red or #rrggbb"),
    };
}

/// <summary>
/// Draws what the OR monitor shows: the lesion mask over the video frame (tinted or outlined),
/// and in a corner the frame number, the capture→received latency, frames missed so far, the
/// model, and whether the clinician froze the picture or switched the overlay off.
/// </summary>
public static class OverlayRenderer
{
    public static void Draw(Mat frame, Mat mask, OverlayStyle style, bool overlayEnabled)
    {
        if (!overlayEnabled) return;
        if (style.Contour)
        {
            Cv2.DrawMaskContours(frame, mask, style.Colour, Math.Max(2, frame.Cols / 480));
            return;
        }
        var pixels = frame.AsSpan<byte>();
        var m = mask.AsSpan<byte>();
        var a = style.Opacity;
        Span<double> c = [style.Colour.V0, style.Colour.V1, style.Colour.V2];
        for (var i = 0; i < m.Length; i++)
        {
            if (m[i] == 0) continue;
            var p = i * 3;
            for (var k = 0; k < 3; k++) pixels[p + k] = (byte)(pixels[p + k] * (1 - a) + c[k] * a + 0.5);
        }
    }

    public static void Caption(Mat frame, IReadOnlyList<string> lines)
    {
        var scale = Math.Max(0.5, frame.Rows / 900.0);
        var lineHeight = (int)(30 * scale);
        Cv2.Rectangle(frame, new Point(0, 0), new Size(frame.Cols / 2, lineHeight * lines.Count + lineHeight / 2), new Scalar(0, 0, 0), -1);
        for (var i = 0; i < lines.Count; i++)
        {
            Cv2.PutText(frame, lines[i], new Point(10, lineHeight * (i + 1)), HersheyFonts.Simplex, scale * 0.8, new Scalar(255, 255, 255), Math.Max(1, (int)scale));
        }
    }
}

/// <summary><c>m2s-client overlay</c>: the live overlay rendered to an MP4 and/or PNG snapshots (no window needed).</summary>
public static class OverlayCommand
{
    public static Command Create()
    {
        var output = new Option<FileInfo?>("--out", "-o") { Description = "MP4 file to write the overlaid video to" };
        var snapshots = new Option<DirectoryInfo?>("--snapshots") { Description = "folder for PNG snapshots" };
        var every = new Option<int>("--snapshot-every") { Description = "a snapshot every N frames", DefaultValueFactory = _ => 30 };
        var frames = new Option<int>("--frames", "-n") { Description = "stop after this many frames (0: until --seconds or Ctrl+C)", DefaultValueFactory = _ => 0 };
        var seconds = new Option<double>("--seconds", "-t") { Description = "stop after this long (0: until --frames or Ctrl+C)", DefaultValueFactory = _ => 0 };
        var colour = new Option<string>("--colour") { Description = "green, yellow, cyan, magenta, red or #rrggbb", DefaultValueFactory = _ => "green" };
        var opacity = new Option<double>("--opacity") { Description = "0..1, how strongly the mask tints the frame", DefaultValueFactory = _ => 0.4 };
        var contour = new Option<bool>("--contour") { Description = "outline the lesion instead of tinting it" };
        var command = new Command("overlay", "Subscribe with video frames and render the mask over them to an MP4 and/or PNG snapshots; reconnects when the daemon goes away.")
            { output, snapshots, every, frames, seconds, colour, opacity, contour };
        command.SetAction(async (parse, cancel) =>
        {
            var o = parse.GetValue(output);
            var s = parse.GetValue(snapshots);
            if (o is null && s is null) throw new ArgumentException("give --out FILE.mp4 and/or --snapshots DIR");
            var a = parse.GetValue(opacity);
            if (a is < 0 or > 1) throw new ArgumentException($"--opacity {a} is not within 0..1");
            var style = new OverlayStyle(OverlayStyle.ParseColour(parse.GetValue(colour)!), a, parse.GetValue(contour));
            var run = new OverlayRun(() => Connection.Open(parse), style, o?.FullName, s?.FullName, Math.Max(1, parse.GetValue(every)),
                parse.GetValue(frames), parse.GetValue(seconds));
            var summary = await run.RunAsync(Console.Error.WriteLine, cancel);
            Console.WriteLine(summary);
            return 0;
        });
        return command;
    }
}

/// <summary>One overlay session: frames in, overlaid frames out, reconnecting with backoff when the stream breaks.</summary>
public sealed class OverlayRun(Func<DaemonConnection> open, OverlayStyle style, string? videoPath, string? snapshotFolder, int snapshotEvery, int maxFrames, double maxSeconds)
{
    public int Frames { get; private set; }

    public ulong Missed { get; private set; }

    public int Reconnects { get; private set; }

    public List<string> Snapshots { get; } = [];

    public async Task<string> RunAsync(Action<string> log, CancellationToken cancel)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        if (maxSeconds > 0) limit.CancelAfter(TimeSpan.FromSeconds(maxSeconds));
        if (snapshotFolder is not null) Directory.CreateDirectory(snapshotFolder);
        VideoWriter? writer = null;
        using var frame = new Mat();
        var backoff = TimeSpan.FromMilliseconds(500);
        ulong lastSequence = 0;
        try
        {
            while (!limit.IsCancellationRequested && (maxFrames <= 0 || Frames < maxFrames))
            {
                string lost;
                using var channel = open();
                try
                {
                    var info = await channel.Segmentation.GetInfoAsync(new GetInfoRequest(), new CallOptions(deadline: DateTime.UtcNow.AddSeconds(10), cancellationToken: limit.Token));
                    using var call = channel.Segmentation.StreamMasks(new StreamMasksRequest
                    {
                        ClientName = "m2s-client-overlay",
                        Options = new MaskOptions { Encoding = MaskEncoding.Bitpacked, IncludeFrameJpeg = true },
                    }, new CallOptions(cancellationToken: limit.Token));
                    var sameMachine = channel.IsLocal;
                    while (await call.ResponseStream.MoveNext(limit.Token))
                    {
                        backoff = TimeSpan.FromMilliseconds(500);
                        var m = call.ResponseStream.Current;
                        if (lastSequence != 0 && m.Sequence > lastSequence + 1) Missed += m.Sequence - lastSequence - 1;
                        lastSequence = m.Sequence;
                        var latencyMs = sameMachine
                            ? (LatencyRecorder.MonotonicNowNs - m.Timestamps.CaptureNs) / 1e6
                            : ((DateTime.UtcNow - DateTime.UnixEpoch).Ticks * 100 - m.Timestamps.CaptureUnixNs) / 1e6;
                        Cv2.ImDecode(m.FrameJpeg.Span, ImreadModes.Color, frame);
                        using var mask = Unpack(m.Mask, frame);
                        OverlayRenderer.Draw(frame, mask, style, m.OverlayEnabled);
                        OverlayRenderer.Caption(frame,
                        [
                            string.Create(CultureInfo.InvariantCulture, $"#{m.Sequence}  {latencyMs:F1} ms  missed {Missed}"),
                            $"{m.Model.Id} {m.Model.Version}" + (m.Frozen ? "  FROZEN" : "") + (m.OverlayEnabled ? "" : "  overlay off"),
                        ]);
                        if (videoPath is not null)
                        {
                            writer ??= new VideoWriter(videoPath, FourCC.FromString("mp4v"), info.Source.Fps > 0 ? info.Source.Fps : 30, new Size(frame.Cols, frame.Rows));
                            writer.Write(frame);
                        }
                        Frames++;
                        if (snapshotFolder is not null && (Frames == 1 || Frames % snapshotEvery == 0))
                        {
                            var path = Path.Combine(snapshotFolder, $"overlay-{m.Sequence:D6}.png");
                            Cv2.ImWrite(path, frame);
                            Snapshots.Add(path);
                        }
                        if (maxFrames > 0 && Frames >= maxFrames) break;
                    }
                    if (maxFrames > 0 && Frames >= maxFrames) break;
                    lost = "the daemon ended the stream";
                }
                catch (RpcException e) when (!limit.IsCancellationRequested && e.StatusCode is StatusCode.Unavailable or StatusCode.Internal or StatusCode.Unknown)
                {
                    lost = $"{e.StatusCode}: {e.Status.Detail}";
                }
                catch (Exception e) when (limit.IsCancellationRequested && e is OperationCanceledException or RpcException)
                {
                    break;
                }
                if (limit.IsCancellationRequested) break;
                Reconnects++;
                log($"m2s-client: stream lost ({lost}); reconnecting in {backoff.TotalSeconds:0.#} s");
                try
                {
                    await Task.Delay(backoff, limit.Token);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
                backoff = TimeSpan.FromSeconds(Math.Min(10, backoff.TotalSeconds * 2));
            }
        }
        finally
        {
            writer?.Dispose();
        }
        return $"{Frames} frames rendered" + (videoPath is null ? "" : $" to {videoPath}") + (Snapshots.Count > 0 ? $", {Snapshots.Count} snapshots in {snapshotFolder}" : "") +
               $"; {Missed} frames missed, {Reconnects} reconnects";
    }

    /// <summary>The bit-packed mask as an 8-bit image the size of the frame (255 lesion); empty when the mask is missing or of another size.</summary>
    private static Mat Unpack(Protocol.V1.Mask? encoded, Mat frame)
    {
        var mask = new Mat(frame.Rows, frame.Cols, MatType.CV_8UC1);
        if (encoded is { Encoding: MaskEncoding.Bitpacked } && encoded.Width == frame.Cols && encoded.Height == frame.Rows)
        {
            MaskCodec.UnpackBits(encoded.Data.Span, frame.Cols, frame.Rows, mask.AsSpan<byte>());
        }
        else
        {
            mask.SetTo(new Scalar(0));
        }
        return mask;
    }
}
