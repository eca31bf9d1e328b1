using System.Device.Gpio;

namespace M2SNet.Edge.Gpio;

/// <summary>
/// An open input pin of a <see cref="GpioController"/> whose edges reach the handler only once the line
/// has kept its new level for the debounce time, so a bouncing foot pedal gives one press and one
/// release. System.Device.Gpio reports raw edges; this sits on top of any controller, over a real chip
/// or a <see cref="SimulatedGpioDriver"/>. Both edges are reported, in order, one at a time; with a zero
/// debounce time the raw edges pass straight through. Dispose it before the controller: once
/// <see cref="Dispose"/> returns the handler is not called again.
/// </summary>
public sealed class DebouncedInput : IDisposable
{
    private readonly Lock _gate = new();
    private readonly GpioController _gpio;
    private readonly PinChangeEventHandler _onEdge;
    private readonly PinChangeEventHandler _onRawEdge;
    private readonly EdgeDebouncer? _debouncer;
    private bool _disposed;

    /// <param name="gpio">The controller the pin is open on, as an input.</param>
    /// <param name="time">The clock the debounce time runs on; the system's unless a test gives its own.</param>
    public DebouncedInput(GpioController gpio, int pin, TimeSpan debounce, PinChangeEventHandler onEdge, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(gpio);
        ArgumentNullException.ThrowIfNull(onEdge);
        if (debounce < TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(debounce), debounce, $"pin {pin}: debounce cannot be negative");
        }
        if (gpio.GetPinMode(pin) == PinMode.Output)
        {
            throw new InvalidOperationException($"pin {pin} is open as an output; only an input has edges to debounce");
        }
        _gpio = gpio;
        _onEdge = onEdge;
        _onRawEdge = OnRawEdge;
        Pin = pin;
        var registered = false;
        try
        {
            // Subscribed before the level is read: an edge in between waits on the gate for the
            // debouncer, and a level it already left is taken as the starting point, not lost.
            lock (_gate)
            {
                gpio.RegisterCallbackForPinValueChangedEvent(pin, PinEventTypes.Rising | PinEventTypes.Falling, _onRawEdge);
                registered = true;
                if (debounce > TimeSpan.Zero) _debouncer = new EdgeDebouncer(debounce, gpio.Read(pin), Report, time ?? TimeProvider.System);
            }
        }
        catch
        {
            lock (_gate) _disposed = true;
            // Outside the gate: a driver's event thread may be waiting on it while the driver joins that thread.
            if (registered) gpio.UnregisterCallbackForPinValueChangedEvent(pin, _onRawEdge);
            throw;
        }
    }

    public int Pin { get; }

    /// <summary>Stops the handler (an edge still being debounced is dropped) and removes the raw callback from the pin.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
        }
        _debouncer?.Dispose();
        bool open;
        try
        {
            open = _gpio.IsPinOpen(Pin);
        }
        catch (ObjectDisposedException)
        {
            return; // the controller went first; releasing its pins took their callbacks with them
        }
        if (open) _gpio.UnregisterCallbackForPinValueChangedEvent(Pin, _onRawEdge);
    }

    private void OnRawEdge(object sender, PinValueChangedEventArgs e)
    {
        lock (_gate)
        {
            if (_disposed) return;
        }
        if (_debouncer is { } debouncer) debouncer.Observe(e.ChangeType);
        else Report(e.ChangeType);
    }

    /// <summary>Held across the handler so that Dispose waits for a report under way.</summary>
    private void Report(PinEventTypes edge)
    {
        lock (_gate)
        {
            if (_disposed) return;
            _onEdge(this, new PinValueChangedEventArgs(edge, Pin));
        }
    }
}
