namespace M2SNet.Edge.Gpio;

/// <summary>
/// The pins the appliance uses, on top of one <see cref="GpioDriver"/>: which pins are open and how,
/// the callbacks on them and their debounce. Misuse (a pin that is not open, a write to an input, a
/// pin opened twice or not on the chip) throws here with the pin named, before the driver is asked;
/// refusals by the chip itself are <see cref="GpioException"/>s. Owns and disposes the driver.
/// </summary>
public sealed class GpioController : IDisposable
{
    private readonly Lock _gate = new();
    private readonly GpioDriver _driver;
    private readonly Dictionary<int, OpenedPin> _pins = [];
    private readonly PinChangeEventHandler _onRawEdge;
    private bool _disposed;

    public GpioController(GpioDriver driver)
    {
        ArgumentNullException.ThrowIfNull(driver);
        _driver = driver;
        _onRawEdge = OnRawEdge;
    }

    public int PinCount => _driver.PinCount;

    public void OpenPin(int pin, PinMode mode) => OpenPin(pin, mode, TimeSpan.Zero);

    /// <summary>
    /// Opens a pin. With a non-zero <paramref name="debounce"/> (inputs only) an edge is reported only
    /// once the level has stayed put that long, so a bouncing pedal gives one press and one release.
    /// </summary>
    public void OpenPin(int pin, PinMode mode, TimeSpan debounce)
    {
        _driver.CheckPinNumber(pin);
        if (!Enum.IsDefined(mode)) throw new ArgumentOutOfRangeException(nameof(mode), mode, $"pin {pin}: unknown mode");
        if (debounce < TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(debounce), debounce, $"pin {pin}: debounce cannot be negative");
        }
        if (debounce > TimeSpan.Zero && mode == PinMode.Output)
        {
            throw new ArgumentException($"pin {pin}: debounce applies to inputs; an output does not bounce", nameof(debounce));
        }
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_pins.TryGetValue(pin, out var opened))
            {
                throw new InvalidOperationException($"pin {pin} is already open (as {opened.Mode})");
            }
            _driver.OpenPin(pin, mode);
            _pins[pin] = new OpenedPin(mode, debounce);
        }
    }

    /// <summary>Releases the pin; its callbacks and any edge still being debounced go with it.</summary>
    public void ClosePin(int pin)
    {
        lock (_gate)
        {
            var opened = Opened(pin);
            opened.Debouncer?.Dispose();
            _pins.Remove(pin);
            _driver.ClosePin(pin);
        }
    }

    public bool IsPinOpen(int pin)
    {
        lock (_gate) return _pins.ContainsKey(pin);
    }

    public PinMode GetPinMode(int pin)
    {
        lock (_gate) return Opened(pin).Mode;
    }

    /// <summary>The line's level now, not debounced; an output reads back what was last written.</summary>
    public PinValue Read(int pin)
    {
        lock (_gate)
        {
            Opened(pin);
            return _driver.Read(pin);
        }
    }

    public void Write(int pin, PinValue value)
    {
        lock (_gate)
        {
            var opened = Opened(pin);
            if (opened.Mode != PinMode.Output)
            {
                throw new InvalidOperationException($"pin {pin} is open as {opened.Mode}; only an output can be written");
            }
            _driver.Write(pin, value);
        }
    }

    /// <summary>
    /// Calls <paramref name="callback"/> for each (debounced) edge of <paramref name="eventTypes"/> on an
    /// open input pin. A level the line already has when the first callback is registered is its
    /// starting point, not an edge.
    /// </summary>
    public void RegisterCallbackForPinValueChangedEvent(int pin, PinEventTypes eventTypes, PinChangeEventHandler callback)
    {
        ArgumentNullException.ThrowIfNull(callback);
        if ((eventTypes & (PinEventTypes.Rising | PinEventTypes.Falling)) == PinEventTypes.None)
        {
            throw new ArgumentException($"pin {pin}: a callback must ask for rising or falling edges", nameof(eventTypes));
        }
        lock (_gate)
        {
            var opened = Opened(pin);
            if (opened.Mode == PinMode.Output)
            {
                throw new InvalidOperationException($"pin {pin} is open as an output; only an input reports edges");
            }
            if (opened.Callbacks.Count == 0) StartEdges(pin, opened);
            opened.Callbacks.Add((eventTypes, callback));
        }
    }

    /// <summary>Removes every registration of <paramref name="callback"/> on the pin; nothing to do if the pin is closed.</summary>
    public void UnregisterCallbackForPinValueChangedEvent(int pin, PinChangeEventHandler callback)
    {
        lock (_gate)
        {
            if (!_pins.TryGetValue(pin, out var opened) || opened.Callbacks.Count == 0) return;
            opened.Callbacks.RemoveAll(c => c.Handler == callback);
            if (opened.Callbacks.Count > 0) return;
            opened.Debouncer?.Dispose();
            opened.Debouncer = null;
            _driver.RemoveCallbackForPinValueChangedEvent(pin, _onRawEdge);
        }
    }

    /// <summary>Stops all callbacks (an edge being debounced is dropped), then releases the lines through the driver.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            foreach (var opened in _pins.Values) opened.Debouncer?.Dispose();
            _pins.Clear();
        }
        // Outside the gate: a driver's event thread may be waiting on it while the driver joins that thread.
        _driver.Dispose();
    }

    /// <summary>
    /// Subscribes to the pin's raw edges before reading its level, so an edge in between is not lost
    /// but taken as the starting level (the raw edge waits on the gate until the debouncer exists).
    /// </summary>
    private void StartEdges(int pin, OpenedPin opened)
    {
        _driver.AddCallbackForPinValueChangedEvent(pin, PinEventTypes.Rising | PinEventTypes.Falling, _onRawEdge);
        if (opened.Debounce == TimeSpan.Zero) return;
        try
        {
            opened.Debouncer = new EdgeDebouncer(opened.Debounce, _driver.Read(pin), edge => Dispatch(pin, opened, edge));
        }
        catch
        {
            _driver.RemoveCallbackForPinValueChangedEvent(pin, _onRawEdge);
            throw;
        }
    }

    private void OnRawEdge(object sender, PinValueChangedEventArgs e)
    {
        OpenedPin? opened;
        lock (_gate)
        {
            if (!_pins.TryGetValue(e.PinNumber, out opened)) return;
            if (opened.Debouncer is { } debouncer)
            {
                debouncer.Observe(e.ChangeType);
                return;
            }
        }
        Dispatch(e.PinNumber, opened, e.ChangeType);
    }

    /// <summary>Calls the pin's callbacks for one edge, unless the pin was closed (or reopened) meanwhile.</summary>
    private void Dispatch(int pin, OpenedPin opened, PinEventTypes edge)
    {
        PinChangeEventHandler[] handlers;
        lock (_gate)
        {
            if (!_pins.TryGetValue(pin, out var current) || current != opened) return;
            handlers = [.. opened.Callbacks.Where(c => (c.Types & edge) != 0).Select(c => c.Handler)];
        }
        var args = new PinValueChangedEventArgs(edge, pin);
        foreach (var handler in handlers) handler(this, args);
    }

    private OpenedPin Opened(int pin)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        _driver.CheckPinNumber(pin);
        return _pins.TryGetValue(pin, out var opened) ? opened : throw new InvalidOperationException($"pin {pin} is not open");
    }

    private sealed class OpenedPin(PinMode mode, TimeSpan debounce)
    {
        public PinMode Mode { get; } = mode;

        public TimeSpan Debounce { get; } = debounce;

        public List<(PinEventTypes Types, PinChangeEventHandler Handler)> Callbacks { get; } = [];

        /// <summary>Present while the pin has callbacks and a debounce time.</summary>
        public EdgeDebouncer? Debouncer { get; set; }
    }
}
