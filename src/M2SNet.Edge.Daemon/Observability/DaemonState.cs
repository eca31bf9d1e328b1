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
