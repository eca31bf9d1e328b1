using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using M2SNet.Edge.Bench;

var quick = new Option<bool>("--quick") { Description = "few iterations, for CI (well under a minute)" };
var output = new Option<DirectoryInfo?>("--out") { Description = "folder for the JSON report (default: bench/results)" };
var threads = new Option<int>("--threads") { Description = "intra-op threads", DefaultValueFactory = _ => 2 };

var ort = new Command("ort", "ONNX Runtime session latency: ResNet-like network at 352x352 vs a no-op model.") { quick, output, threads };
ort.SetAction(parse =>
{
    var report = OrtLatencyBenchmark.Run(parse.GetValue(quick), parse.GetValue(threads), p => Console.Error.Write($"\r  {p}   "));
    Console.Error.WriteLine();
    Console.WriteLine($"ONNX Runtime {report.OnnxRuntime} on {report.Provider}, {report.Threads} intra-op threads, {report.Machine.Cpu} ({report.Machine.LogicalCores} logical cores)");
    Console.WriteLine($"{"variant",-34} {"median",9} {"p95",9} {"p99",9} {"min",9}");
    foreach (var (name, s) in report.Variants)
    {
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{name,-34} {s.Median,7:F3}ms {s.P95,7:F3}ms {s.P99,7:F3}ms {s.Min,7:F3}ms"));
    }
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"model / no-op median ratio: {report.ModelToNoopRatio:F0}x (binding + dispatch overhead = {report.BindingOverheadShare:P2} of a model run)"));
    var path = ReportWriter.Write(parse.GetValue(output), "ort-latency", report);
    Console.WriteLine($"report: {path}");
    return 0;
});

var torchQuick = new Option<bool>("--quick") { Description = "128x128 input, two rounds, for CI" };
var torchOut = new Option<DirectoryInfo?>("--out") { Description = "folder for the JSON report (default: bench/results)" };
var torchThreads = new Option<int>("--threads") { Description = "libtorch threads", DefaultValueFactory = _ => 2 };
var torchCommand = new Command("torch", "M2SNet on libtorch: forward and training step, naive vs rewritten all-ones convolution.") { torchQuick, torchOut, torchThreads };
torchCommand.SetAction(parse =>
{
    var report = TorchModelBenchmark.Run(parse.GetValue(torchQuick), parse.GetValue(torchThreads), p => Console.Error.Write($"\r  {p}   "));
    Console.Error.WriteLine();
    Console.WriteLine($"M2SNet on libtorch {report.LibTorch}, {report.Threads} threads, {report.Size}x{report.Size}, {report.Machine.Cpu} ({report.Machine.LogicalCores} logical cores)");
    Console.WriteLine($"{"variant",-30} {"median",10} {"min",10} {"max",10}");
    foreach (var (name, s) in report.Variants)
    {
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{name,-30} {s.Median,8:F1}ms {s.Min,8:F1}ms {s.Max,8:F1}ms"));
    }
    foreach (var (kind, r) in report.RewriteSpeedup)
    {
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"rewrite speed-up, {kind}: {r:F2}x"));
    }
    Console.WriteLine($"report: {ReportWriter.Write(parse.GetValue(torchOut), "torch-m2snet", report)}");
    return 0;
});

var exportQuick = new Option<bool>("--quick") { Description = "128x128 input, three rounds, for CI" };
var exportOut = new Option<DirectoryInfo?>("--out") { Description = "folder for the JSON report (default: bench/results)" };
var exportThreads = new Option<int>("--threads") { Description = "intra-op threads", DefaultValueFactory = _ => 2 };
var exportCommand = new Command("export", "ONNX Runtime latency of M2SNet: optimised export vs the naive (authors') graph.") { exportQuick, exportOut, exportThreads };
exportCommand.SetAction(parse =>
{
    var report = ExportLatencyBenchmark.Run(parse.GetValue(exportQuick), parse.GetValue(exportThreads), p => Console.Error.Write($"\r  {p}   "));
    Console.Error.WriteLine();
    Console.WriteLine($"M2SNet on ONNX Runtime {report.OnnxRuntime}, {report.Threads} intra-op threads, batch 1, {report.Size}x{report.Size}, {report.Machine.Cpu} ({report.Machine.LogicalCores} logical cores)");
    foreach (var (name, s) in report.Variants)
    {
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{name,-20} median {s.Median,8:F1} ms  p95 {s.P95,8:F1} ms  ({report.Nodes[name]} nodes)"));
    }
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"optimised is {report.Speedup:F2}x faster; max |logit diff| {report.MaxAbsLogitDiff:E2} (logits up to {report.LogitAbsMax:F1})"));
    Console.WriteLine($"report: {ReportWriter.Write(parse.GetValue(exportOut), "onnx-export-latency", report)}");
    return 0;
});

var stepQuick = new Option<bool>("--quick") { Description = "128x128 input, two rounds, for CI" };
var stepOut = new Option<DirectoryInfo?>("--out") { Description = "folder for the JSON report (default: bench/results)" };
var stepThreads = new Option<int>("--threads") { Description = "libtorch threads", DefaultValueFactory = _ => 2 };
var stepCommand = new Command("train-step", "One training step of M2SNet (batch 2, structure loss + LossNet, SGD), naive vs rewritten fixed convolution.") { stepQuick, stepOut, stepThreads };
stepCommand.SetAction(parse =>
{
    var report = TrainStepBenchmark.Run(parse.GetValue(stepQuick), parse.GetValue(stepThreads), p => Console.Error.Write($"\r  {p}   "));
    Console.Error.WriteLine();
    Console.WriteLine($"M2SNet training step on libtorch {report.LibTorch}, {report.Threads} threads, batch {report.Batch}, {report.Size}x{report.Size}, with LossNet, {report.Machine.Cpu} ({report.Machine.LogicalCores} logical cores)");
    foreach (var (name, s) in report.Variants)
    {
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{name,-22} median {s.Median / 1000,6:F2} s/step  {report.ImagesPerSecond[name],6:F2} images/s"));
    }
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"rewritten fixed convolution: {report.RewriteSpeedup:F2}x faster per step"));
    Console.WriteLine($"report: {ReportWriter.Write(parse.GetValue(stepOut), "train-step", report)}");
    return 0;
});

var videoQuick = new Option<bool>("--quick") { Description = "a one-second video, for CI" };
var videoOut = new Option<DirectoryInfo?>("--out") { Description = "folder for the JSON report (default: bench/results)" };
var videoCommand = new Command("video", "1080p video ingest: decode and one-call preprocessing per frame, against plain C# preprocessing.") { videoQuick, videoOut };
videoCommand.SetAction(parse =>
{
    var report = VideoIngestBenchmark.Run(parse.GetValue(videoQuick), p => Console.Error.Write($"\r  {p}   "));
    Console.Error.WriteLine();
    Console.WriteLine($"OpenCV {report.OpenCv}, {report.Video}, {report.Frames} frames, {report.Machine.Cpu} ({report.Machine.LogicalCores} logical cores)");
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"decode: {report.DecodeFps:F0} fps (median {report.Decode.Median:F2} ms, p99 {report.Decode.P99:F2} ms)"));
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"preprocess to 352x352, native: median {report.PreprocessNative.Median:F3} ms, p99 {report.PreprocessNative.P99:F3} ms"));
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"preprocess, plain C# baseline: median {report.PreprocessManaged.Median:F1} ms -> native is {report.NativeSpeedup:F0}x faster"));
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"decode + preprocess use 1/{report.Headroom:F0} of a 30 fps frame interval"));
    Console.WriteLine($"report: {ReportWriter.Write(parse.GetValue(videoOut), "video-ingest", report)}");
    return 0;
});

var daemonQuick = new Option<bool>("--quick") { Description = "4 s per run instead of 20, for CI" };
var daemonOut = new Option<DirectoryInfo?>("--out") { Description = "folder for the JSON report (default: bench/results)" };
var daemonThreads = new Option<int>("--threads") { Description = "ONNX Runtime intra-op threads of the daemon", DefaultValueFactory = _ => 0 };
var daemonEncoding = new Option<M2SNet.Edge.Protocol.V1.MaskEncoding>("--encoding") { Description = "mask encoding the clients ask for", DefaultValueFactory = _ => M2SNet.Edge.Protocol.V1.MaskEncoding.Rle };
var daemonCommand = new Command("daemon", "End-to-end latency of the daemon (capture to client) at 1080p30, split by stage, with 1 and 8 clients.") { daemonQuick, daemonOut, daemonThreads, daemonEncoding };
daemonCommand.SetAction(async parse =>
{
    var report = await DaemonLatencyBenchmark.RunAsync(parse.GetValue(daemonQuick), parse.GetValue(daemonThreads), parse.GetValue(daemonEncoding), new SyncProgress(p => Console.Error.WriteLine($"  {p}")));
    Console.WriteLine($"m2s-edged, {report.Source}, {report.Encoding} masks, model {report.Model} on {report.Provider} ({(report.Threads == 0 ? "all cores" : $"{report.Threads} threads")}), " +
                      $"{report.Machine.Cpu} ({report.Machine.LogicalCores} logical cores), {report.Seconds:0} s per run");
    foreach (var run in report.Runs)
    {
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{run.Clients} client(s): {run.Frames} frames, {run.FpsPerClient:F1} fps per client, {run.MissedFrames} missed; GC gen0/1/2 {string.Join('/', run.GcCollections)}, paused {run.GcPauseMs:F1} ms"));
        Console.WriteLine($"  {"latency (ms)",-30} {"p50",7} {"p95",7} {"p99",7} {"max",7}");
        foreach (var (name, f) in run.Stages)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {name,-30} {f.P50,7:F2} {f.P95,7:F2} {f.P99,7:F2} {f.Max,7:F2}"));
        }
    }
    var stalled = report.BesideStalled;
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"1 client beside a stalled one: {stalled.Run.FpsPerClient:F1} fps ({stalled.FpsRatio:F2}x of alone), capture → received p50 {stalled.Run.Stages["capture → received"].P50:F2} ms ({stalled.P50Ratio:F2}x), {stalled.Run.MissedFrames} missed"));
    var overhead = report.Runs[0].Stages["overhead (all but inference)"];
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"overhead without inference, 1 client: p50 {overhead.P50:F2} ms (target 2), p99 {overhead.P99:F2} ms (target 3); {report.OverheadToInference:P0} of inference at p50"));
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"each client beyond the first adds {report.P99AddedPerExtraClient:F3} ms to the overhead's p99 (target 0.2)"));
    Console.WriteLine($"report: {ReportWriter.Write(parse.GetValue(daemonOut), "daemon-latency", report)}");
    return 0;
});

var swapQuick = new Option<bool>("--quick") { Description = "10 swaps and a 3 s baseline, for CI" };
var swapOut = new Option<DirectoryInfo?>("--out") { Description = "folder for the JSON report (default: bench/results)" };
var swapFps = new Option<double>("--fps") { Description = "frame rate of the clip the daemon plays", DefaultValueFactory = _ => 30 };
var swapClients = new Option<int>("--clients") { Description = "streaming clients", DefaultValueFactory = _ => 2 };
var swapCommand = new Command("swap", "Model swaps under streaming clients: frames lost per 50 swaps, against as long a run without swaps.") { swapQuick, swapOut, swapFps, swapClients };
swapCommand.SetAction(async parse =>
{
    var report = await ModelSwapBenchmark.RunAsync(parse.GetValue(swapQuick), parse.GetValue(swapFps), parse.GetValue(swapClients), new SyncProgress(p => Console.Error.WriteLine($"  {p}")));
    Console.WriteLine($"m2s-edged, {report.Source}, {report.Swaps} swaps of the demo model (two signed versions), {report.Machine.Cpu} ({report.Machine.LogicalCores} logical cores)");
    foreach (var (c, i) in report.Clients.Select((c, i) => (c, i)))
    {
        Console.WriteLine($"  client {i + 1}: {c.Delivered} delivered, {c.Missing} missing ({c.DroppedForClient} dropped for the client, {c.SkippedForClient} skipped by the busy daemon), {c.SwitchesSeen} switches seen");
    }
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"pipeline hand-off drops {report.PipelineDrops}, uncounted gaps {report.UncountedGaps}; validation per swap p50 {report.Validation.Median:F0} ms, max {report.Validation.Max:F0} ms"));
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"frames missed per client: {report.BaselineMissingFraction:P2} without swaps, {report.SwapMissingFraction:P2} with -> {report.DropsPer50Swaps:F1} frames per 50 swaps per client"));
    Console.WriteLine($"report: {ReportWriter.Write(parse.GetValue(swapOut), "model-swap", report)}");
    return report.UncountedGaps == 0 ? 0 : 1;
});

var gpuModel = new Option<FileInfo>("--model") { Description = "M2SNet exported at 352 (with its manifest beside it)", Required = true };
var gpuQuick = new Option<bool>("--quick") { Description = "few iterations and a 4 s video run" };
var gpuOut = new Option<DirectoryInfo?>("--out") { Description = "folder for the JSON report (default: bench/results)" };
var gpuCommand = new Command("gpu", "An NVIDIA appliance: M2SNet 352 on TensorRT and CUDA (fp32/fp16, batch 1 and 8) against CPU, and capture → mask p99 at 1080p60.") { gpuModel, gpuQuick, gpuOut };
gpuCommand.SetAction(async parse =>
{
    var model = parse.GetValue(gpuModel)!;
    if (!model.Exists)
    {
        Console.Error.WriteLine($"m2s-bench: model not found: {model.FullName}");
        return 2;
    }
    var q = parse.GetValue(gpuQuick);
    var cache = Directory.CreateTempSubdirectory("m2s-trt-cache-").FullName;
    var report = GpuCheckBenchmark.Run(model.FullName, q, cache, p => Console.Error.WriteLine($"  {p}"));
    string captureToMask;
    try
    {
        var video = Path.Combine(Path.GetTempPath(), "m2s-sample-1920x1080-60fps.mp4");
        if (!File.Exists(video)) M2SNet.Edge.Synthetic.SampleVideo.Write(video, seed: 7, seconds: 12, fps: 60, width: 1920, height: 1080);
        var daemon = await DaemonLatencyBenchmark.RunAsync(q, 0, M2SNet.Edge.Protocol.V1.MaskEncoding.Bitpacked, new SyncProgress(p => Console.Error.WriteLine($"  {p}")),
            new Dictionary<string, string?>
            {
                ["Daemon:Model:Path"] = model.FullName,
                ["Daemon:Model:Providers"] = "TensorRT,CUDA,CPU",
                ["Daemon:Source:Uri"] = video,
                ["Daemon:Models:StateDirectory"] = Directory.CreateTempSubdirectory("m2s-gpu-state-").FullName,
            }, oneClientOnly: true);
        var run = daemon.Runs[0];
        captureToMask = string.Create(CultureInfo.InvariantCulture,
            $"{run.Stages["capture → received"].P99:F2} ms p99 ({run.Stages["capture → received"].P50:F2} p50) on {daemon.Provider}, {run.FpsPerClient:F1} fps, {run.MissedFrames} missed");
    }
    catch (Exception e) when (e is not OperationCanceledException)
    {
        captureToMask = $"not run: {e.Message}";
    }
    report = report with { CaptureToMask = captureToMask };
    Console.WriteLine($"ONNX Runtime {report.OnnxRuntime}, GPU: {report.Gpu}, {report.Machine.Cpu} ({report.Machine.LogicalCores} logical cores), {report.Model} at {report.Size}x{report.Size}");
    Console.WriteLine($"{"provider",-9} {"precision",-9} {"batch",5} {"frames/s",9} {"p99 ms",8} {"x CPU",7}");
    foreach (var r in report.Rows)
    {
        Console.WriteLine(r.NotRun is { } why
            ? $"{r.Provider,-9} {r.Precision,-9} {r.Batch,5}  not run: {why}"
            : string.Create(CultureInfo.InvariantCulture, $"{r.Provider,-9} {r.Precision,-9} {r.Batch,5} {r.FramesPerSecond,9:F1} {r.P99,8:F2} {r.ToCpu,7:F1}"));
    }
    Console.WriteLine($"capture → mask at 1080p60 (1 client, bit-packed masks): {report.CaptureToMask}");
    Console.WriteLine($"report: {ReportWriter.Write(parse.GetValue(gpuOut), "gpu-check", report)}");
    return 0;
});

var holdQuick = new Option<bool>("--quick") { Description = "6 calls of 12 MiB and shorter waits, for CI" };
var holdOut = new Option<DirectoryInfo?>("--out") { Description = "folder for the JSON report (default: bench/results)" };
var holdCommand = new Command("hold", "Issue 17's D2: Segment calls that announce 32 MiB, send 31 and stall; the daemon's RSS with its bounds and without (baseline).") { holdQuick, holdOut };
holdCommand.SetAction(async parse =>
{
    var report = await HoldBenchmark.RunAsync(parse.GetValue(holdQuick), new SyncProgress(p => Console.Error.WriteLine($"  {p}")));
    Console.WriteLine($"{report.Runs[0].Calls} calls announcing {report.Announced >> 20} MiB and sending {report.Sent >> 20} MiB, {report.Machine.Cpu} ({report.Machine.LogicalCores} logical cores)");
    Console.WriteLine($"{"daemon",-22} {"held",5} {"refused",8} {"RSS before",11} {"peak",8} {"after",8} {"viewer frames",14}  statuses");
    foreach (var r in report.Runs)
    {
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{r.Daemon,-22} {r.Held,5} {r.Refused,8} {r.RssBefore,8:F0} MiB {r.RssPeak,4:F0} MiB {r.RssAfter,4:F0} MiB {r.ViewerFrames,14}  {string.Join(", ", r.Statuses.Select(kv => $"{kv.Key}: {kv.Value}"))}{(r.ViewerFailed is { } f ? $"  viewer failed: {f}" : "")}"));
    }
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"peak RSS growth, bounded / unbounded: {report.PeakGrowthRatio:F3}"));
    Console.WriteLine($"report: {ReportWriter.Write(parse.GetValue(holdOut), "hold", report)}");
    return report.Runs[0].ViewerFailed is null && report.Runs[0].ViewerFrames > 0 ? 0 : 1;
});

var fuzzCount = new Option<int?>("--count") { Description = "inputs in all, shared among frames, messages, http2, bundles and checkpoints (default 10000; 1000 with --quick)" };
var fuzzSeed = new Option<int>("--seed") { Description = "seed of every input (input i of a category is made from the seed, the category and i alone)", DefaultValueFactory = _ => 1 };
var fuzzQuick = new Option<bool>("--quick") { Description = "1000 inputs under a 90 s cap, for CI" };
var fuzzOut = new Option<DirectoryInfo?>("--out") { Description = "folder for the JSON report (default: bench/results)" };
var fuzzCommand = new Command("fuzz", "Malformed frames, messages, HTTP/2, bundles and checkpoints against the daemon while a viewer streams; exits 1 on any unacceptable answer.")
{
    fuzzCount, fuzzSeed, fuzzQuick, fuzzOut,
};
fuzzCommand.SetAction(async parse =>
{
    var settings = M2SNet.Edge.Bench.Fuzz.FuzzSettings.For(parse.GetValue(fuzzCount), parse.GetValue(fuzzSeed), parse.GetValue(fuzzQuick));
    var report = await M2SNet.Edge.Bench.Fuzz.FuzzCampaign.RunAsync(settings, new SyncProgress(p => Console.Error.WriteLine($"  {p}")));
    M2SNet.Edge.Bench.Fuzz.FuzzTable.Print(report, Console.Out);
    Console.WriteLine($"report: {ReportWriter.Write(parse.GetValue(fuzzOut), "fuzz", report)}");
    return report.Passed ? 0 : 1;
});

var precisionQuick = new Option<bool>("--quick") { Description = "128x128, few rounds, for CI" };
var precisionOut = new Option<DirectoryInfo?>("--out") { Description = "folder for the JSON report (default: bench/results)" };
var precisionThreads = new Option<int>("--threads") { Description = "intra-op threads", DefaultValueFactory = _ => 2 };
var precisionModels = new Option<string>("--models") { Description = "networks to time, comma-separated", DefaultValueFactory = _ => string.Join(",", PrecisionBenchmark.Architectures) };
var precisionNoDemo = new Option<bool>("--no-demo") { Description = "skip the demo model" };
var precisionDemo = new Option<FileInfo?>("--demo") { Description = "the demo model to quantize and score (default: models/m2snet-s-demo.onnx)" };
var precisionCommand = new Command("precision",
    "CPU inference at 352: the authors' graph, our float32 and our int8 for M2SNet, MSNet and CHNet; the demo model's int8 mDice drop; int8 M2SNet's per-operator profile.")
{
    precisionQuick, precisionOut, precisionThreads, precisionDemo, precisionModels, precisionNoDemo,
};
precisionCommand.SetAction(parse =>
{
    var demo = parse.GetValue(precisionNoDemo) ? null : parse.GetValue(precisionDemo)?.FullName ?? ReportWriter.InRepository("models/m2snet-s-demo.onnx");
    var report = PrecisionBenchmark.Run(parse.GetValue(precisionQuick), parse.GetValue(precisionThreads), demo, p => Console.Error.Write($"\r  {p}".PadRight(100)),
        parse.GetValue(precisionModels)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
    Console.Error.WriteLine();
    Console.WriteLine($"ONNX Runtime {report.OnnxRuntime} on CPU, {report.Threads} intra-op threads, batch 1, {report.Size}x{report.Size}, {report.Machine.Cpu} ({report.Machine.LogicalCores} logical cores)");
    Console.WriteLine($"{"model",-8} {"variant",-8} {"median",10} {"p95",10} {"fps",7} {"vs naive",9}");
    foreach (var m in report.Models)
    {
        foreach (var (name, s) in m.Variants)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{m.Architecture,-8} {name,-8} {s.Median,8:F1}ms {s.P95,8:F1}ms {1000 / s.Median,7:F1} {m.Variants[PrecisionBenchmark.Naive].Median / s.Median,8:F2}x"));
        }
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{m.Architecture,-8} int8 vs float32 {m.Int8VsFloat32:F2}x; {m.Int8Layers} convolutions in int8, {m.FloatLayers} float"));
    }
    if (report.Demo is { } d)
    {
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"demo {d.Model} at {d.Size}: int8 ({d.Method}) mDice {d.DiceInt8:F4} vs float32 {d.DiceFloat32:F4} on {d.Frames} held-out frames (drop {d.Drop:F4}); int8 {d.Int8VsFloat32:F2}x faster ({d.Variants[PrecisionBenchmark.Float32].Median:F1} -> {d.Variants[PrecisionBenchmark.Int8].Median:F1} ms)"));
    }
    Console.WriteLine("int8 M2SNet, time per operator type (ONNX Runtime profile):");
    foreach (var op in report.Profile.Take(10))
    {
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {op.Op,-22} {op.MillisecondsPerFrame,8:F2} ms/frame {op.Share,7:P1}  ({op.Nodes} nodes)"));
    }
    Console.WriteLine("int8 M2SNet, slowest nodes:");
    foreach (var op in report.SlowestNodes.Take(10))
    {
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {op.Op,-60} {op.MillisecondsPerFrame,8:F2} ms/frame {op.Share,7:P1}"));
    }
    Console.WriteLine($"report: {ReportWriter.Write(parse.GetValue(precisionOut), "precision", report)}");
    return 0;
});

var tailQuick = new Option<bool>("--quick") { Description = "one 4 s run of each, for CI" };
var tailOut = new Option<DirectoryInfo?>("--out") { Description = "folder for the JSON report (default: bench/results)" };
var tailCommand = new Command("tail",
    "The pipeline's overhead (all but inference) at 1080p30, 1 client: the layout before issue 18 (preprocessing on its own thread, decoding at equal priority, semaphore hand-offs) and now, alternated in one run.")
{
    tailQuick, tailOut,
};
tailCommand.SetAction(async parse =>
{
    var report = await PipelineTailBenchmark.RunAsync(parse.GetValue(tailQuick), new SyncProgress(p => Console.Error.WriteLine($"  {p}")));
    Console.WriteLine($"m2s-edged, 1080p30 sample, model {report.Model}, {report.Machine.Cpu} ({report.Machine.LogicalCores} logical cores), {report.Rounds} round(s) of {report.Seconds:0} s each");
    Console.WriteLine($"  {"(ms)",-34} {"p50",7} {"p95",7} {"p99",7} {"max",7}");
    foreach (var layout in new[] { report.Before, report.After })
    {
        foreach (var (name, f) in new[] { ("overhead (all but inference)", layout.Overhead), ("queued in hand-offs", layout.Queued), ("capture → received", layout.CaptureToReceived) })
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {layout.Name + ": " + name,-34} {f.P50,7:F2} {f.P95,7:F2} {f.P99,7:F2} {f.Max,7:F2}"));
        }
    }
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"overhead p99 after / before: {report.P99Ratio:F2} (goal: 3 ms p99)"));
    Console.WriteLine($"report: {ReportWriter.Write(parse.GetValue(tailOut), "pipeline-tail", report)}");
    return 0;
});

var ddpQuick = new Option<bool>("--quick") { Description = "64x64, two steps, for CI" };
var ddpOut = new Option<DirectoryInfo?>("--out") { Description = "folder for the JSON report (default: bench/results)" };
var ddpCommand = new Command("ddp", "Data-parallel training: M2SNet-S samples per second on 1 and 2 ranks (c10d gloo, one libtorch thread each) and the scaling efficiency.")
{
    ddpQuick, ddpOut,
};
ddpCommand.SetAction(parse =>
{
    var report = DataParallelBenchmark.Run(parse.GetValue(ddpQuick), p => Console.Error.WriteLine($"  {p}"));
    Console.WriteLine($"{report.Model} training steps, {report.Size}x{report.Size}, batch {report.Batch} per rank, {report.Steps} steps per run, {report.Machine.Cpu} ({report.Machine.LogicalCores} logical cores)");
    foreach (var (world, rate) in report.SamplesPerSecond)
    {
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {world} rank(s) of 1 thread: {rate,7:F2} samples/s (median)"));
    }
    var spread = report.RoundEfficiencies.Count > 1 ? string.Create(CultureInfo.InvariantCulture, $", rounds {string.Join(" ", report.RoundEfficiencies.Select(e => e.ToString("F2", CultureInfo.InvariantCulture)))}") : "";
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"scaling efficiency (2 ranks / twice 1 rank, median per round): {report.Efficiency:F2} (goal 0.85){spread}"));
    Console.WriteLine($"report: {ReportWriter.Write(parse.GetValue(ddpOut), "data-parallel", report)}");
    return 0;
});

var root = new RootCommand("m2s-bench: M2SNet.Edge benchmarks. Figures are ratios against a baseline measured in the same run.") { ort, torchCommand, exportCommand, stepCommand, videoCommand, daemonCommand, swapCommand, gpuCommand, holdCommand, fuzzCommand, precisionCommand, tailCommand, ddpCommand };
return await root.Parse(args).InvokeAsync();

/// <summary>Reports on the caller's thread (System.Progress posts to the thread pool, out of order).</summary>
internal sealed class SyncProgress(Action<string> report) : IProgress<string>
{
    public void Report(string value) => report(value);
}
