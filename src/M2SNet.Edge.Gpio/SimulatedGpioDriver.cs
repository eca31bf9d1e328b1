using System.Device.Gpio;

namespace M2SNet.Edge.Gpio;

/// <summary>
/// An in-process chip for tests and for machines without GPIO: a System.Device.Gpio driver, so the
/// appliance drives it through the same <see cref="GpioController"/> as a real chip. The test side
/// plays the outside world: it drives input lines with <see cref="SetInputValue"/> (the edge reaches
/// callbacks and waits on the caller's thread before it returns, so whatever debounce sits on top
/// applies as on hardware) and watches what the controller drives with <see cref="GetOutputValue"/>
/// and <see cref="OutputChanged"/>. Thread safe; callbacks run holding no lock of the chip's.
/// </summary>
public sealed class SimulatedGpioDriver : GpioDriver
{
    private readonly Lock _gate = new();
    private readonly Line[] _lines;
    private bool _disposed;

    public SimulatedGpioDriver(int lines = 64)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(lines);
        _lines = new Line[lines];
        for (var i = 0; i < lines; i++) _lines[i] = new Line();
    }

    /// <summary>Raised after a write changes an output's level; <see cref="PinValueChangedEventArgs.ChangeType"/> says which way.</summary>
    public event EventHandler<PinValueChangedEventArgs>? OutputChanged;

    protected override int PinCount => _lines.Length;

    /// <summary>
    /// Drives an input line from outside, as a pedal or button would; allowed whether or not the pin is
    /// open (and after the chip is disposed: the wire still moves). An edge is reported only when the
    /// level changes on an open input with callbacks or waits.
    /// </summary>
    public void SetInputValue(int pin, PinValue value)
    {
        var line = LineOf(pin);
        PinEventTypes edge;
        PinChangeEventHandler[] handlers;
        lock (_gate)
        {
            if (line.IsOpen && line.Mode == PinMode.Output)
            {
                throw new InvalidOperationException($"simulated pin {pin} is open as an output; the chip drives it, not the test");
            }
            var before = line.Level;
            line.Driven = value;
            edge = line.IsOpen && before != value ? EdgeTo(value) : PinEventTypes.None;
            handlers = [.. line.Callbacks.Where(c => (c.Types & edge) != 0).Select(c => c.Handler)];
        }
        var args = new PinValueChangedEventArgs(edge, pin);
        foreach (var handler in handlers) handler(this, args);
    }

    /// <summary>The level the controller drives on an output pin.</summary>
    public PinValue GetOutputValue(int pin)
    {
        var line = LineOf(pin);
        lock (_gate)
        {
            if (!line.IsOpen || line.Mode != PinMode.Output)
            {
                throw new InvalidOperationException($"simulated pin {pin} is not open as an output");
            }
            return line.Output;
        }
    }

    /// <summary>Takes the line as the firmware left it: an input without bias. Opening an open line changes nothing.</summary>
    protected override void OpenPin(int pinNumber)
    {
        var line = LineOf(pinNumber);
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (line.IsOpen) return;
            line.IsOpen = true;
            line.Mode = PinMode.Input;
            line.Output = PinValue.Low;
        }
    }

    /// <summary>Releases the line; its callbacks go with it.</summary>
    protected override void ClosePin(int pinNumber)
    {
        var line = LineOf(pinNumber);
        lock (_gate)
        {
            line.IsOpen = false;
            line.Callbacks.Clear();
        }
    }

    /// <summary>An output starts low.</summary>
    protected override void SetPinMode(int pinNumber, PinMode mode) => SetPinMode(pinNumber, mode, PinValue.Low);

    protected override void SetPinMode(int pinNumber, PinMode mode, PinValue initialValue)
    {
        if (!Enum.IsDefined(mode)) throw new ArgumentOutOfRangeException(nameof(mode), mode, $"simulated pin {pinNumber}: unknown mode");
        var line = LineOf(pinNumber);
        lock (_gate)
        {
            Opened(line, pinNumber);
            if (mode == PinMode.Output && line.Callbacks.Count > 0)
            {
                throw new InvalidOperationException($"simulated pin {pinNumber} is reporting edges; remove its callbacks before making it an output");
            }
            line.Mode = mode;
            if (mode == PinMode.Output) line.Output = initialValue;
        }
    }

    protected override PinMode GetPinMode(int pinNumber)
    {
        var line = LineOf(pinNumber);
        lock (_gate) return Opened(line, pinNumber).Mode;
    }

    protected override bool IsPinModeSupported(int pinNumber, PinMode mode)
    {
        LineOf(pinNumber);
        return Enum.IsDefined(mode);
    }

    /// <summary>An input reads the level the test drives (or its bias when undriven); an output reads back what it drives.</summary>
    protected override PinValue Read(int pinNumber)
    {
        var line = LineOf(pinNumber);
        lock (_gate)
        {
            Opened(line, pinNumber);
            return line.Mode == PinMode.Output ? line.Output : line.Level;
        }
    }

    protected override void Write(int pinNumber, PinValue value)
    {
        var line = LineOf(pinNumber);
        PinEventTypes edge;
        lock (_gate)
        {
            Opened(line, pinNumber);
            if (line.Mode != PinMode.Output)
            {
                throw new InvalidOperationException($"simulated pin {pinNumber} is open as {line.Mode}; only an output can be written");
            }
            edge = line.Output != value ? EdgeTo(value) : PinEventTypes.None;
            line.Output = value;
        }
        if (edge != PinEventTypes.None) OutputChanged?.Invoke(this, new PinValueChangedEventArgs(edge, pinNumber));
    }

    protected override void AddCallbackForPinValueChangedEvent(int pinNumber, PinEventTypes eventTypes, PinChangeEventHandler callback)
    {
        ArgumentNullException.ThrowIfNull(callback);
        if ((eventTypes & (PinEventTypes.Rising | PinEventTypes.Falling)) == PinEventTypes.None)
        {
            throw new ArgumentException($"simulated pin {pinNumber}: a callback must ask for rising or falling edges", nameof(eventTypes));
        }
        var line = LineOf(pinNumber);
        lock (_gate)
        {
            if (Opened(line, pinNumber).Mode == PinMode.Output)
            {
                throw new InvalidOperationException($"simulated pin {pinNumber} is open as an output; only an input reports edges");
            }
            line.Callbacks.Add((eventTypes, callback));
        }
    }

    /// <summary>Removes every registration of <paramref name="callback"/>; like libgpiod's driver, refuses a pin that reports no edges at all.</summary>
    protected override void RemoveCallbackForPinValueChangedEvent(int pinNumber, PinChangeEventHandler callback)
    {
        var line = LineOf(pinNumber);
        lock (_gate)
        {
            if (line.Callbacks.Count == 0)
            {
                throw new InvalidOperationException($"simulated pin {pinNumber} is not reporting edges, so it has no callback to remove");
            }
            line.Callbacks.RemoveAll(c => c.Handler == callback);
        }
    }

    protected override WaitForEventResult WaitForEvent(int pinNumber, PinEventTypes eventTypes, CancellationToken cancellationToken) =>
        WaitForEventAsync(pinNumber, eventTypes, cancellationToken).AsTask().GetAwaiter().GetResult();

    /// <summary>
    /// The next edge of <paramref name="eventTypes"/> on an open input, or a timed-out result once the token
    /// is cancelled. The wait is registered before this returns, so an edge driven after the call is seen.
    /// </summary>
    protected override ValueTask<WaitForEventResult> WaitForEventAsync(int pinNumber, PinEventTypes eventTypes, CancellationToken cancellationToken)
    {
        var edge = new TaskCompletionSource<PinEventTypes>(TaskCreationOptions.RunContinuationsAsynchronously);
        PinChangeEventHandler waiter = (_, e) => edge.TrySetResult(e.ChangeType);
        AddCallbackForPinValueChangedEvent(pinNumber, eventTypes, waiter);
        return new ValueTask<WaitForEventResult>(Wait());

        async Task<WaitForEventResult> Wait()
        {
            try
            {
                var changeType = await edge.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
                return new WaitForEventResult { EventTypes = changeType, TimedOut = false };
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return new WaitForEventResult { EventTypes = PinEventTypes.None, TimedOut = true };
            }
            finally
            {
                // The pin may have been closed meanwhile, taking the waiter with it.
                lock (_gate) _lines[pinNumber].Callbacks.RemoveAll(c => c.Handler == waiter);
            }
        }
    }

    protected override void Dispose(bool disposing)
    {
        lock (_gate)
        {
            _disposed = true;
            foreach (var line in _lines)
            {
                line.IsOpen = false;
                line.Callbacks.Clear();
            }
        }
        base.Dispose(disposing);
    }

    private Line LineOf(int pin)
    {
        if ((uint)pin >= (uint)_lines.Length)
        {
            throw new ArgumentOutOfRangeException(nameof(pin), pin, $"pin {pin} is not on this chip (it has pins 0 to {_lines.Length - 1})");
        }
        return _lines[pin];
    }

    /// <summary>Call holding the gate.</summary>
    private Line Opened(Line line, int pin)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return line.IsOpen ? line : throw new InvalidOperationException($"simulated pin {pin} is not open");
    }

    private static PinEventTypes EdgeTo(PinValue level) => level == PinValue.High ? PinEventTypes.Rising : PinEventTypes.Falling;

    /// <summary>One line's state; guarded by the chip's gate.</summary>
    private sealed class Line
    {
        public bool IsOpen { get; set; }

        public PinMode Mode { get; set; }

        /// <summary>What the outside world drives on the line, if anything; kept while the pin is closed.</summary>
        public PinValue? Driven { get; set; }

        public PinValue Output { get; set; }

        public List<(PinEventTypes Types, PinChangeEventHandler Handler)> Callbacks { get; } = [];

        /// <summary>An undriven input floats to its bias: high with a pull-up, low otherwise.</summary>
        public PinValue Level => Driven ?? (Mode == PinMode.InputPullUp ? PinValue.High : PinValue.Low);
    }
}
