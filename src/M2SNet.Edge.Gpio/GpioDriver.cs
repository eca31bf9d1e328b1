namespace M2SNet.Edge.Gpio;

/// <summary>
/// One GPIO chip: what <see cref="GpioController"/> needs from hardware, and nothing of its policy
/// (open-pin bookkeeping, debounce). The callback table lives here so every driver only has to start
/// and stop edge detection on a line and report the raw edges it sees.
/// </summary>
public abstract class GpioDriver : IDisposable
{
    private readonly Lock _gate = new();
    private readonly Dictionary<int, List<(PinEventTypes Types, PinChangeEventHandler Handler)>> _callbacks = [];
    private bool _disposed;

    /// <summary>Number of lines on the chip; pins are numbered 0 to PinCount - 1.</summary>
    public abstract int PinCount { get; }

    public void OpenPin(int pin, PinMode mode)
    {
        CheckUsable(pin);
        OpenPinCore(pin, mode);
    }

    /// <summary>Releases the line; its callbacks are dropped with it.</summary>
    public void ClosePin(int pin)
    {
        CheckUsable(pin);
        lock (_gate)
        {
            _callbacks.Remove(pin);
            ClosePinCore(pin);
        }
    }

    public PinValue Read(int pin)
    {
        CheckUsable(pin);
        return ReadCore(pin);
    }

    public void Write(int pin, PinValue value)
    {
        CheckUsable(pin);
        WriteCore(pin, value);
    }

    /// <summary>
    /// Calls <paramref name="handler"/> for each edge of <paramref name="types"/> on an open input pin.
    /// Edge detection on the line starts with its first callback and stops with its last.
    /// </summary>
    public void AddCallbackForPinValueChangedEvent(int pin, PinEventTypes types, PinChangeEventHandler handler)
    {
        CheckUsable(pin);
        ArgumentNullException.ThrowIfNull(handler);
        if ((types & (PinEventTypes.Rising | PinEventTypes.Falling)) == PinEventTypes.None)
        {
            throw new ArgumentException($"pin {pin}: a callback must ask for rising or falling edges", nameof(types));
        }
        // Held across StartEdgeEvents so that concurrent adds and removes reach the line in order.
        lock (_gate)
        {
            if (!_callbacks.TryGetValue(pin, out var list))
            {
                StartEdgeEvents(pin);
                _callbacks[pin] = list = [];
            }
            list.Add((types, handler));
        }
    }

    public void RemoveCallbackForPinValueChangedEvent(int pin, PinChangeEventHandler handler)
    {
        CheckUsable(pin);
        lock (_gate)
        {
            if (!_callbacks.TryGetValue(pin, out var list)) return;
            list.RemoveAll(c => c.Handler == handler);
            if (list.Count > 0) return;
            _callbacks.Remove(pin);
            StopEdgeEvents(pin);
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            _callbacks.Clear();
        }
        Dispose(disposing: true);
        GC.SuppressFinalize(this);
    }

    protected abstract void OpenPinCore(int pin, PinMode mode);

    /// <summary>Releases the line, including any edge detection on it.</summary>
    protected abstract void ClosePinCore(int pin);

    protected abstract PinValue ReadCore(int pin);

    protected abstract void WriteCore(int pin, PinValue value);

    /// <summary>Begins reporting both edges of an open input pin through <see cref="OnPinValueChanged"/>.</summary>
    protected abstract void StartEdgeEvents(int pin);

    protected abstract void StopEdgeEvents(int pin);

    protected virtual void Dispose(bool disposing)
    {
    }

    /// <summary>Delivers one raw edge to the callbacks that asked for it. Call it holding no lock of the driver's.</summary>
    protected void OnPinValueChanged(int pin, PinEventTypes edge)
    {
        PinChangeEventHandler[] handlers;
        lock (_gate)
        {
            if (!_callbacks.TryGetValue(pin, out var list)) return;
            handlers = [.. list.Where(c => (c.Types & edge) != 0).Select(c => c.Handler)];
        }
        var args = new PinValueChangedEventArgs(edge, pin);
        foreach (var handler in handlers) handler(this, args);
    }

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> for a pin number the chip does not have.</summary>
    protected internal void CheckPinNumber(int pin)
    {
        if ((uint)pin >= (uint)PinCount)
        {
            throw new ArgumentOutOfRangeException(nameof(pin), pin, $"pin {pin} is not on this chip (it has pins 0 to {PinCount - 1})");
        }
    }

    private void CheckUsable(int pin)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        CheckPinNumber(pin);
    }
}
