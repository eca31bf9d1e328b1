using System.CommandLine;
using System.Globalization;
using M2SNet.Edge.Synthetic;
using M2SNet.Edge.Video;

namespace M2SNet.Edge.Cli;

/// <summary><c>m2s video</c>: check a video source, make the synthetic sample video.</summary>
internal static class VideoCommand
{
    public static Command Create()
    {
        var command = new Command("video", "Video sources: probe a camera, file or stream; write the synthetic sample video.");
        command.Subcommands.Add(Probe());
        command.Subcommands.Add(Sample());
        return command;
    }

    private static Command Probe()
    {
        var source = new Argument<string>("source") { Description = "/dev/videoN or an index, a file, rtsp://…, http://…, or gst:<pipeline>" };
        var frames = new Option<int>("--frames") { Description = "frames to decode", DefaultValueFactory = _ => 100 };
        var backend = new Option<string?>("--backend") { Description = "force a back-end: v4l2, ffmpeg, gstreamer, mjpeg, any (default: by source kind)" };
        var size = new Option<int>("--size") { Description = "network input size for the preprocessing timing", DefaultValueFactory = _ => 352 };
        var timeout = new Option<double>("--timeout") { Description = "open and read timeout, seconds", DefaultValueFactory = _ => 10 };
        var fourcc = new Option<string?>("--fourcc") { Description = "devices: pixel format to ask for (MJPG, YUYV)" };
        var command = new Command("probe", "Open a video source, print its properties, decode frames and time decoding and preprocessing.")
        {
            source, frames, backend, size, timeout, fourcc,
        };
        command.SetAction(parse => CliErrors.Guard(() =>
        {
            var n = parse.GetValue(frames);
            if (n < 1) throw new CliException("--frames must be at least 1");
            var spec = VideoSourceSpec.Parse(parse.GetValue(source)!, parse.GetValue(backend));
            var t = TimeSpan.FromSeconds(parse.GetValue(timeout));
            Console.WriteLine($"source: {spec}");
            var result = VideoProbe.Run(new VideoSourceOptions
            {
                Source = spec, OpenTimeout = t, ReadTimeout = t, DeviceFourCC = parse.GetValue(fourcc),
            }, n, parse.GetValue(size));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"opened in {result.OpenMilliseconds:F0} ms: {result.Properties}"));
            if (result.Frames > 0)
            {
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"decoded {result.Frames} frames: {result.DecodeFps:F1} fps (median {result.DecodeMedianMs:F2} ms, p99 {result.DecodeP99Ms:F2} ms per frame)"));
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"preprocess to {result.InputSize}x{result.InputSize}: median {result.PreprocessMedianMs:F2} ms, p99 {result.PreprocessP99Ms:F2} ms per frame"));
            }
            if (result.Stopped is not null)
            {
                if (result.Frames == 0) throw new CliException(result.Stopped);
                Console.WriteLine($"note: {result.Stopped}");
            }
            return 0;
        }));
        return command;
    }

    private static Command Sample()
    {
        var output = new Option<FileInfo>("--out") { Description = "video file to write (.mp4)", Required = true };
        var seconds = new Option<double>("--seconds") { Description = "duration", DefaultValueFactory = _ => 10 };
        var fps = new Option<double>("--fps") { Description = "frame rate", DefaultValueFactory = _ => 30 };
        var width = new Option<int>("--width") { Description = "frame width", DefaultValueFactory = _ => 640 };
        var height = new Option<int>("--height") { Description = "frame height", DefaultValueFactory = _ => 512 };
        var seed = new Option<int>("--seed") { Description = "scene seed", DefaultValueFactory = _ => 7 };
        var command = new Command("sample", "Write a synthetic endoscopy video (drifting polyps on mucosa), for demos and tests.")
        {
            output, seconds, fps, width, height, seed,
        };
        command.SetAction(parse => CliErrors.Guard(() =>
        {
            var path = parse.GetValue(output)!.FullName;
            var n = SampleVideo.Write(path, parse.GetValue(seed), parse.GetValue(seconds), parse.GetValue(fps), parse.GetValue(width), parse.GetValue(height));
            Console.WriteLine($"wrote {n} frames to {path} ({new FileInfo(path).Length / 1048576.0:F1} MiB)");
            return 0;
        }));
        return command;
    }
}
