using M2SNet.Edge.Daemon.Configuration;
using M2SNet.Edge.Daemon.Models;
using M2SNet.Edge.Deployment;
using M2SNet.Edge.Daemon.Observability;
using M2SNet.Edge.Daemon.Streaming;
using M2SNet.Edge.Inference;
using Microsoft.ML.OnnxRuntime;
using M2SNet.Edge.Video;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OcvRect = M2SNet.Edge.OpenCv.Rect;


namespace M2SNet.Edge.Daemon.Pipeline;

/// <summary>The model and the live pipeline as they are now; services read it, <see cref="PipelineHost"/> and <see cref="ModelUpdater"/> set it.</summary>
public sealed class ActivePipeline
{
    private FrameStages? _stages;
    private volatile VideoSource? _source;
    private volatile SegmentationPipeline? _pipeline;
    private volatile bool _overlayEnabled = true;
    private volatile bool _frozen;
    private readonly TaskCompletionSource _firstModel = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>The warm model with its stages; null until ready. For reading what runs; work on a frame takes a lease (<see cref="AcquireStages"/>).</summary>
    public FrameStages? Stages => Volatile.Read(ref _stages);

    public VideoSource? Source => _source;

    public SegmentationPipeline? Pipeline => _pipeline;

    /// <summary>Whether the OR overlay is on (the foot pedal toggles it).</summary>
    public bool OverlayEnabled
    {
        get => _overlayEnabled;
        set => _overlayEnabled = value;
    }

    /// <summary>Whether the clinician froze the picture (long press on the pedal).</summary>
    public bool Frozen
    {
        get => _frozen;
        set => _frozen = value;
    }

    public Presentation Presentation => new(_overlayEnabled, _frozen);

    /// <summary>Completes when a model is first installed (at start-up, or later by an update after a failed start).</summary>
    public Task FirstModel => _firstModel.Task;

    /// <summary>The active stages with a lease for one frame or call (release it with <see cref="FrameStages.Release"/>); null before any model.</summary>
    public FrameStages? AcquireStages()
    {
        while (true)
        {
            var stages = Volatile.Read(ref _stages);
            if (stages is null) return null;
            if (stages.TryAcquire()) return stages;
            // Swapped out between the read and the lease: the new one is already in place.
        }
    }

    /// <summary>Installs <paramref name="stages"/> for the next frame; frames already started finish on the old model, which is then disposed.</summary>
    internal void Swap(FrameStages stages)
    {
        var old = Interlocked.Exchange(ref _stages, stages);
        old?.Retire();
        _firstModel.TrySetResult();
    }

    /// <summary>At shutdown, after the pipeline stopped.</summary>
    internal void RetireStages() => Interlocked.Exchange(ref _stages, null)?.Retire();

    internal void SetLive(VideoSource source, SegmentationPipeline pipeline)
    {
        _source = source;
        _pipeline = pipeline;
    }
}

/// <summary>
/// Brings the daemon up in the background while the endpoints already answer (health says
/// NOT_SERVING): loads the model, replays its golden pair, warms it up, then opens the source
/// (retrying while it is absent) and starts the pipeline. Stops it all at shutdown.
/// </summary>
public sealed class PipelineHost(
    IOptions<DaemonOptions> options,
    ActivePipeline active,
    ModelUpdater updater,
    MaskPublisher publisher,
    PipelineMetrics metrics,
    DaemonState state,
    ILoggerFactory loggers) : BackgroundService
{
    private readonly ILogger _log = loggers.CreateLogger<PipelineHost>();
    private VideoSource? _source;
    private SegmentationPipeline? _pipeline;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await BringUp(stoppingToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            // Whatever went wrong, the daemon keeps answering and says why it does not stream.
            _log.LogCritical(e, "The live pipeline could not start");
            state.SetSource("failed", e.Message);
        }
    }

    private async Task BringUp(CancellationToken stoppingToken)
    {
        await Task.Yield();
        var o = options.Value;
        try
        {
            var stages = await Task.Run(updater.LoadAtStartup, stoppingToken).ConfigureAwait(false);
            active.Swap(stages);
            state.Set(Readiness.Ready, "");
        }
        catch (Exception e) when (e is ModelLoadException or OnnxRuntimeException or ExecutionProviderException or OrtLibraryException or IOException or UnauthorizedAccessException)
        {
            _log.LogCritical("The model cannot be used: {Reason}. The daemon stays up and reports NOT_SERVING until it is fixed or a valid bundle is installed.", e.Message);
            state.Set(Readiness.Failed, e.Message);
            // An update (ModelAdmin, drop folder) can still bring a working model.
            await active.FirstModel.WaitAsync(stoppingToken).ConfigureAwait(false);
        }

        var sourceOptions = await Task.Run(() => SourceOptionsFrom(o.Source, o.Pipeline, stoppingToken), stoppingToken).ConfigureAwait(false);
        var backoff = TimeSpan.FromSeconds(1);
        while (!stoppingToken.IsCancellationRequested)
        {
            var source = new VideoSource(sourceOptions, loggers.CreateLogger<VideoSource>());
            try
            {
                source.StateChanged += e =>
                {
                    state.SetSource(e.Kind switch
                    {
                        SourceEventKind.Opened => "streaming",
                        SourceEventKind.Reconnecting => "reconnecting",
                        SourceEventKind.SourceLost => "lost",
                        SourceEventKind.Ended => "ended",
                        _ => state.SourceState,
                    }, e.Message);
                    // Viewers are told at once that the picture is gone, and why (they may ask again).
                    if (e.Kind is SourceEventKind.SourceLost or SourceEventKind.Ended) publisher.EndStreams(state.NotServingReason);
                };
                source.Start();
                _source = source;
                break;
            }
            catch (VideoSourceException e)
            {
                source.Dispose();
                state.SetSource("lost", e.Message);
                _log.LogWarning("Video source {Source} cannot be opened: {Reason}; trying again in {Seconds:0} s", sourceOptions.Source, e.Message, backoff.TotalSeconds);
                await Task.Delay(backoff, stoppingToken).ConfigureAwait(false);
                backoff = TimeSpan.FromSeconds(Math.Min(30, backoff.TotalSeconds * 2));
            }
        }
        if (_source is null) return;

        _pipeline = new SegmentationPipeline(_source, active, publisher, metrics, loggers.CreateLogger<SegmentationPipeline>(),
            o.Pipeline.PreprocessOnInferenceThread, TimeSpan.FromMicroseconds(o.Pipeline.StageSliceMicroseconds), o.Pipeline.LockFreeWake);
        active.SetLive(_source, _pipeline);
        _pipeline.Start();
        _log.LogInformation("Streaming {Source} ({Properties}) through {Model} on {Provider}", _source.Spec, _source.Properties,
            active.Stages!.Identity.Id, active.Stages!.Model.ExecutionProvider.Name);
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        publisher.Stop();
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        _source?.Dispose();
        _pipeline?.Dispose();
        active.RetireStages();
    }

    private VideoSourceOptions SourceOptionsFrom(SourceOptions o, PipelineOptions pipeline, CancellationToken cancel)
    {
        var uri = o.Uri.Trim();
        var spec = uri.Equals(SampleVideos.SourceName, StringComparison.OrdinalIgnoreCase)
            ? VideoSourceSpec.Parse(SampleVideos.Ensure(o.SampleWidth, o.SampleHeight, _log, cancel))
            : VideoSourceSpec.Parse(uri, o.Backend);
        var roi = ParseRegion(o.RegionOfInterest);
        return new VideoSourceOptions
        {
            Source = spec,
            Loop = o.Loop,
            Realtime = o.Realtime,
            Width = o.Width,
            Height = o.Height,
            Fps = o.Fps,
            DeviceFourCC = o.FourCC,
            RegionOfInterest = roi.Mode,
            FixedRegion = roi.Fixed,
            DecodeNice = pipeline.DecodeNice,
            LockFreeWake = pipeline.LockFreeWake,
        };
    }

    internal static (RegionOfInterestMode Mode, OcvRect? Fixed) ParseRegion(string text)
    {
        var t = text.Trim().ToLowerInvariant();
        if (t is "" or "none") return (RegionOfInterestMode.None, null);
        if (t == "auto") return (RegionOfInterestMode.Auto, null);
        var parts = t.Split(',', StringSplitOptions.TrimEntries);
        if (parts.Length == 4 && parts.All(p => int.TryParse(p, out _)))
        {
            var v = parts.Select(int.Parse).ToArray();
            if (v[2] > 0 && v[3] > 0 && v[0] >= 0 && v[1] >= 0) return (RegionOfInterestMode.Fixed, new OcvRect(v[0], v[1], v[2], v[3]));
        }
        throw new ArgumentException($"Daemon:Source:RegionOfInterest '{text}' is not none, auto or x,y,width,height");
    }
}
