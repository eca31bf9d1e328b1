namespace M2SNet.Edge.Daemon.Observability;

public enum Readiness
{
    /// <summary>Loading, self-testing or warming up the model.</summary>
    Starting,

    /// <summary>The model is warm: Segment works, and StreamMasks once the source delivers.</summary>
    Ready,

    /// <summary>The model cannot be used; the reason says why. The daemon keeps answering (health, info).</summary>
    Failed,
}

/// <summary>Whether the daemon serves, and why not; health checks and GetInfo read it, Watch follows it.</summary>
public sealed class DaemonState
{
    private readonly Lock _gate = new();
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Readiness Readiness { get; private set; } = Readiness.Starting;

    public string Reason { get; private set; } = "loading the model";

    public string SourceState { get; private set; } = "starting";

    public string SourceDetail { get; private set; } = "";

    public DateTimeOffset StartedAt { get; } = DateTimeOffset.UtcNow;

    /// <summary>
    /// Serving means masks are being made: the model is ready and the video source streams. A lost
    /// camera is as much "not serving" as a missing model (Segment calls still work meanwhile).
    /// </summary>
    public bool Serving
    {
        get
        {
            lock (_gate) return Readiness == Readiness.Ready && SourceState == "streaming";
        }
    }

    /// <summary>The video is missing, lost, reconnecting or over: a live stream now would carry nothing.</summary>
    public bool VideoGone
    {
        get
        {
            lock (_gate) return SourceState is "lost" or "failed" or "reconnecting" or "ended";
        }
    }

    /// <summary>Why the daemon is not serving (the model's reason first, then the source's); empty when it is.</summary>
    public string NotServingReason
    {
        get
        {
            lock (_gate)
            {
                if (Readiness != Readiness.Ready) return Reason;
                return SourceState switch
                {
                    "streaming" => "",
                    "starting" => "opening the video source",
                    "reconnecting" => $"the video source is reconnecting: {SourceDetail}",
                    "ended" => $"the video source ended: {SourceDetail}",
                    _ => $"no video: the source is {SourceState}: {SourceDetail}",
                };
            }
        }
    }

    /// <summary>Raised after every change, on the thread that made it (the health service follows it this way).</summary>
    public event Action? Updated;

    /// <summary>Completes at the next change.</summary>
    public Task Changed
    {
        get
        {
            lock (_gate) return _changed.Task;
        }
    }

    public void Set(Readiness readiness, string reason) => Update(() =>
    {
        Readiness = readiness;
        Reason = reason;
    });

    public void SetSource(string state, string detail) => Update(() =>
    {
        SourceState = state;
        SourceDetail = detail;
    });

    private void Update(Action change)
    {
        TaskCompletionSource previous;
        lock (_gate)
        {
            change();
            previous = _changed;
            _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        previous.TrySetResult();
        Updated?.Invoke();
    }
}
