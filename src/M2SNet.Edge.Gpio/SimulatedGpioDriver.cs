namespace M2SNet.Edge.Gpio;

/// <summary>
/// An in-process chip for tests and for machines without GPIO. The test side plays the outside world:
/// it drives input lines with <see cref="SetInputValue"/> (edges reach the callbacks the same way a
/// real chip's would, so the controller's debounce applies) and watches what the controller drives
/// with <see cref="GetOutputValue"/> and <see cref="OutputChanged"/>. Thread safe.
/// </summary>
public sealed class SimulatedGpioDriver : GpioDriver
{
    private readonly Lock _gate = new();
    private readonly PinMode?[] _modes;
    private readonly PinValue?[] _driven;
    private readonly PinValue[] _outputs;
    private readonly bool[] _watched;

    public SimulatedGpioDriver(int lines = 64)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(lines);
        _modes = new PinMode?[lines];
        _driven = new PinValue?[lines];
        _outputs = new PinValue[lines];
        _watched = new bool[lines];
    }

    /// <summary>Raised after an output pin changes level; <see cref="PinValueChangedEventArgs.ChangeType"/> says which way.</summary>
    public event EventHandler<PinValueChangedEventArgs>? OutputChanged;

    public override int PinCount => _modes.Length;

    /// <summary>
    /// Drives an input line from outside, as a pedal or button would. Allowed whether or not the pin is
    /// open; an edge is reported only when the level changes on a pin with callbacks.
    /// </summary>
    public void SetInputValue(int pin, PinValue value)
    {
        CheckPinNumber(pin);
        PinEventTypes edge;
        lock (_gate)
        {
            if (_modes[pin] == PinMode.Output)
            {
                throw new InvalidOperationException($"simulated pin {pin} is open as an output; the chip drives it, not the test");
            }
            var before = LevelOf(pin);
            _driven[pin] = value;
            edge = _watched[pin] && before != value ? EdgeTo(value) : PinEventTypes.None;
        }
        if (edge != PinEventTypes.None) OnPinValueChanged(pin, edge);
    }

    /// <summary>The level the controller last wrote to an output pin.</summary>
    public PinValue GetOutputValue(int pin)
    {
        CheckPinNumber(pin);
        lock (_gate)
        {
            if (_modes[pin] != PinMode.Output)
            {
                throw new InvalidOperationException($"simulated pin {pin} is not open as an output");
            }
            return _outputs[pin];
        }
    }

    protected override void OpenPinCore(int pin, PinMode mode)
    {
        lock (_gate)
        {
            if (_modes[pin] is { } current)
            {
                throw new GpioException($"simulated pin {pin} is already requested as {current}");
            }
            _modes[pin] = mode;
            _outputs[pin] = PinValue.Low;
        }
    }

    protected override void ClosePinCore(int pin)
    {
        lock (_gate)
        {
            _modes[pin] = null;
            _watched[pin] = false;
        }
    }

    protected override PinValue ReadCore(int pin)
    {
        lock (_gate)
        {
            return _modes[pin] switch
            {
                null => throw new GpioException($"simulated pin {pin} is not requested"),
                PinMode.Output => _outputs[pin],
                _ => LevelOf(pin),
            };
        }
    }

    protected override void WriteCore(int pin, PinValue value)
    {
        PinEventTypes edge;
        lock (_gate)
        {
            if (_modes[pin] != PinMode.Output)
            {
                throw new GpioException($"simulated pin {pin} is not requested as an output");
            }
            edge = _outputs[pin] != value ? EdgeTo(value) : PinEventTypes.None;
            _outputs[pin] = value;
        }
        if (edge != PinEventTypes.None) OutputChanged?.Invoke(this, new PinValueChangedEventArgs(edge, pin));
    }

    protected override void StartEdgeEvents(int pin)
    {
        lock (_gate)
        {
            if (_modes[pin] is null or PinMode.Output)
            {
                throw new GpioException($"simulated pin {pin} is not requested as an input, so it has no edges to report");
            }
            _watched[pin] = true;
        }
    }

    protected override void StopEdgeEvents(int pin)
    {
        lock (_gate) _watched[pin] = false;
    }

    /// <summary>An undriven input floats to its bias: high with a pull-up, low otherwise.</summary>
    private PinValue LevelOf(int pin) => _driven[pin] ?? (_modes[pin] == PinMode.InputPullUp ? PinValue.High : PinValue.Low);

    private static PinEventTypes EdgeTo(PinValue level) => level == PinValue.High ? PinEventTypes.Rising : PinEventTypes.Falling;
}
