using System.Device.Gpio;

namespace M2SNet.Edge.Gpio.Tests;

/// <summary>
/// A foot pedal's contact bounces for a few milliseconds on press and release. The debounce runs on a
/// clock the test advances, so each test says exactly how much time passes and none of them sleeps.
/// </summary>
public sealed class DebounceTests : IDisposable
{
    private const int Pedal = 22;
    private static readonly TimeSpan Debounce = TimeSpan.FromMilliseconds(30);
    private static readonly TimeSpan Tick = TimeSpan.FromTicks(1);

    private readonly SimulatedGpioDriver _chip = new();
    private readonly GpioController _gpio;
    private readonly ManualClock _clock = new();
    private readonly EdgeRecorder _recorder = new();

    public DebounceTests()
    {
        _gpio = new GpioController(_chip);
        _gpio.OpenPin(Pedal, PinMode.InputPullDown);
    }

    public void Dispose() => _gpio.Dispose();

    [Fact]
    public void Bounce_that_ends_where_it_started_is_not_reported()
    {
        using var pedal = Watch();

        Bounce(PinValue.High, PinValue.Low, PinValue.High, PinValue.Low);
        _clock.Advance(10 * Debounce);

        Assert.Empty(_recorder.Edges);
    }

    [Fact]
    public void Press_held_past_debounce_is_reported_once_per_edge()
    {
        using var pedal = Watch();

        Bounce(PinValue.High, PinValue.Low, PinValue.High, PinValue.Low, PinValue.High);
        _clock.Advance(Debounce);
        Bounce(PinValue.Low, PinValue.High, PinValue.Low);
        _clock.Advance(10 * Debounce);

        Assert.Equal([(Pedal, PinEventTypes.Rising), (Pedal, PinEventTypes.Falling)], _recorder.Edges);
    }

    [Fact]
    public void Edge_is_reported_once_the_level_has_held_for_the_debounce_time()
    {
        using var pedal = Watch();

        _chip.SetInputValue(Pedal, PinValue.High);
        _clock.Advance(Debounce - Tick);
        Assert.Empty(_recorder.Edges);

        _clock.Advance(Tick);
        Assert.Equal([(Pedal, PinEventTypes.Rising)], _recorder.Edges);
    }

    [Fact]
    public void Each_bounce_restarts_the_debounce_time()
    {
        using var pedal = Watch();

        _chip.SetInputValue(Pedal, PinValue.High);
        _clock.Advance(Debounce - Tick);
        Bounce(PinValue.Low, PinValue.High);
        _clock.Advance(Debounce - Tick);
        Assert.Empty(_recorder.Edges);

        _clock.Advance(Tick);
        Assert.Equal([(Pedal, PinEventTypes.Rising)], _recorder.Edges);
    }

    [Fact]
    public void Level_the_pedal_already_has_when_watched_is_not_an_edge()
    {
        _chip.SetInputValue(Pedal, PinValue.High);
        using var pedal = Watch();
        _clock.Advance(10 * Debounce);
        Assert.Empty(_recorder.Edges);

        _chip.SetInputValue(Pedal, PinValue.Low);
        _clock.Advance(Debounce);
        Assert.Equal([(Pedal, PinEventTypes.Falling)], _recorder.Edges);
    }

    [Fact]
    public void Disposing_the_input_drops_an_edge_still_being_debounced()
    {
        var pedal = Watch();

        _chip.SetInputValue(Pedal, PinValue.High);
        pedal.Dispose();
        _clock.Advance(10 * Debounce);
        Bounce(PinValue.Low, PinValue.High);
        _clock.Advance(10 * Debounce);

        Assert.Empty(_recorder.Edges);
    }

    [Fact]
    public void Disposed_input_leaves_no_callback_on_the_pin()
    {
        Watch().Dispose();

        // The chip refuses to make a line with callbacks an output.
        _gpio.SetPinMode(Pedal, PinMode.Output);
        Assert.Equal(PinMode.Output, _gpio.GetPinMode(Pedal));
    }

    [Fact]
    public void Input_disposed_after_its_controller_does_not_throw()
    {
        var pedal = Watch();
        _gpio.Dispose();

        pedal.Dispose();
        _chip.SetInputValue(Pedal, PinValue.High);
        _clock.Advance(10 * Debounce);

        Assert.Empty(_recorder.Edges);
    }

    [Fact]
    public void Zero_debounce_passes_raw_edges_straight_through()
    {
        using var pedal = Watch(TimeSpan.Zero);

        Bounce(PinValue.High, PinValue.Low);

        Assert.Equal([(Pedal, PinEventTypes.Rising), (Pedal, PinEventTypes.Falling)], _recorder.Edges);
    }

    [Fact]
    public void Edges_come_from_the_input_with_its_pin_number()
    {
        object? sender = null;
        using var pedal = new DebouncedInput(_gpio, Pedal, Debounce, (s, _) => sender = s, _clock);

        _chip.SetInputValue(Pedal, PinValue.High);
        _clock.Advance(Debounce);

        Assert.Same(pedal, sender);
        Assert.Equal(Pedal, pedal.Pin);
    }

    [Fact]
    public void Debounce_runs_on_the_system_clock_unless_told_otherwise()
    {
        using var pedal = new DebouncedInput(_gpio, Pedal, TimeSpan.FromMilliseconds(5), _recorder.Record);

        Bounce(PinValue.High, PinValue.Low, PinValue.High);
        _recorder.WaitFor(1);

        Assert.Equal([(Pedal, PinEventTypes.Rising)], _recorder.Edges);
    }

    [Fact]
    public void Negative_debounce_is_rejected()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Watch(TimeSpan.FromMilliseconds(-1)));
    }

    [Fact]
    public void Output_cannot_be_debounced()
    {
        _gpio.OpenPin(5, PinMode.Output);

        var e = Assert.Throws<InvalidOperationException>(() => new DebouncedInput(_gpio, 5, Debounce, _recorder.Record, _clock));
        Assert.Contains("pin 5 is open as an output", e.Message);
    }

    [Fact]
    public void Pin_that_is_not_open_cannot_be_debounced()
    {
        var e = Assert.Throws<InvalidOperationException>(() => new DebouncedInput(_gpio, 6, Debounce, _recorder.Record, _clock));
        Assert.Contains("pin 6", e.Message);
    }

    private DebouncedInput Watch(TimeSpan? debounce = null) => new(_gpio, Pedal, debounce ?? Debounce, _recorder.Record, _clock);

    private void Bounce(params PinValue[] levels)
    {
        foreach (var level in levels) _chip.SetInputValue(Pedal, level);
    }
}
