using System.Device.Gpio;

namespace M2SNet.Edge.Gpio;

/// <summary>
/// Turns the raw edges of a bouncing contact (a foot pedal) into one edge per real press or release:
/// each raw edge restarts a timer, and when the line has been quiet for the debounce time the level
/// the last raw edge left is compared with the last level reported. A bounce that ends where it
/// started reports nothing. The level comes from the edges, not from reading the line, so the timer
/// thread never makes a native call that could fail with no caller to tell.
/// </summary>
internal sealed class EdgeDebouncer : IDisposable
{
    private readonly Lock _gate = new();
    // Serialises reports so that one pin's handlers see its edges one at a time and in order.
    private readonly Lock _reporting = new();
    private readonly TimeSpan _debounce;
    private readonly Action<PinEventTypes> _report;
    private readonly ITimer _timer;
    private PinValue _reported;
    private PinValue _latest;
    private bool _stopped;

    /// <param name="level">The line's level now: the starting point, not an edge.</param>
    /// <param name="time">Whose clock the debounce time is counted on (tests pass one they advance).</param>
    public EdgeDebouncer(TimeSpan debounce, PinValue level, Action<PinEventTypes> report, TimeProvider time)
    {
        _debounce = debounce;
        _report = report;
        _reported = _latest = level;
        _timer = time.CreateTimer(_ => Settle(), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    /// <summary>Takes one raw edge; reports nothing now.</summary>
    public void Observe(PinEventTypes rawEdge)
    {
        lock (_gate)
        {
            if (_stopped) return;
            _latest = rawEdge == PinEventTypes.Rising ? PinValue.High : PinValue.Low;
            _timer.Change(_debounce, Timeout.InfiniteTimeSpan);
        }
    }

    /// <summary>Stops reporting; an edge still waiting out its debounce time is dropped.</summary>
    public void Dispose()
    {
        lock (_gate) _stopped = true;
        _timer.Dispose();
    }

    private void Settle()
    {
        lock (_reporting)
        {
            PinEventTypes edge;
            lock (_gate)
            {
                if (_stopped || _latest == _reported) return;
                _reported = _latest;
                edge = _latest == PinValue.High ? PinEventTypes.Rising : PinEventTypes.Falling;
            }
            _report(edge);
        }
    }
}
