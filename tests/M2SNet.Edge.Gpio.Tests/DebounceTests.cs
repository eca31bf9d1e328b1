using System.Diagnostics;

namespace M2SNet.Edge.Gpio.Tests;

/// <summary>
/// A foot pedal's contact bounces for a few milliseconds on press and release. The debounce times
/// here are long against the few microseconds a bounce train takes to simulate, so a loaded machine
/// cannot stretch a train past them.
/// </summary>
public sealed class DebounceTests : IDisposable
{
    private const int Pedal = 22;

    private readonly SimulatedGpioDriver _chip = new();
    private readonly GpioController _gpio;
    private readonly EdgeRecorder _recorder = new();

    public DebounceTests() => _gpio = new GpioController(_chip);

    public void Dispose() => _gpio.Dispose();

    [Fact]
    public void Press_shorter_than_debounce_is_not_reported()
    {
        var debounce = TimeSpan.FromSeconds(1);
        Watch(debounce);

        Bounce(PinValue.High, PinValue.Low, PinValue.High, PinValue.Low);
        Thread.Sleep(2 * debounce);

        Assert.Empty(_recorder.Edges);
    }

    [Fact]
    public void Press_held_past_debounce_is_reported_once_per_edge()
    {
        var debounce = TimeSpan.FromMilliseconds(300);
        Watch(debounce);

        Bounce(PinValue.High, PinValue.Low, PinValue.High, PinValue.Low, PinValue.High);
        _recorder.WaitFor(1);
        Bounce(PinValue.Low, PinValue.High, PinValue.Low);
        _recorder.WaitFor(2);
        Thread.Sleep(3 * debounce);

        Assert.Equal([(Pedal, PinEventTypes.Rising), (Pedal, PinEventTypes.Falling)], _recorder.Edges);
    }

    [Fact]
    public void Edge_is_reported_only_after_the_level_has_been_stable_for_the_debounce_time()
    {
        var debounce = TimeSpan.FromMilliseconds(150);
        Watch(debounce);

        Bounce(PinValue.High, PinValue.Low, PinValue.High);
        var settled = Stopwatch.StartNew();
        _recorder.WaitFor(1);

        // Timers count whole milliseconds; allow them to round down.
        Assert.True(settled.Elapsed >= debounce - TimeSpan.FromMilliseconds(5), $"reported after {settled.Elapsed.TotalMilliseconds} ms");
        Assert.Equal([(Pedal, PinEventTypes.Rising)], _recorder.Edges);
    }

    [Fact]
    public void Unregistering_drops_an_edge_still_being_debounced()
    {
        var debounce = TimeSpan.FromMilliseconds(200);
        Watch(debounce);

        _chip.SetInputValue(Pedal, PinValue.High);
        _gpio.UnregisterCallbackForPinValueChangedEvent(Pedal, _recorder.Record);
        Thread.Sleep(5 * debounce);

        Assert.Empty(_recorder.Edges);
    }

    private void Watch(TimeSpan debounce)
    {
        _gpio.OpenPin(Pedal, PinMode.InputPullDown, debounce);
        _gpio.RegisterCallbackForPinValueChangedEvent(Pedal, PinEventTypes.Rising | PinEventTypes.Falling, _recorder.Record);
    }

    private void Bounce(params PinValue[] levels)
    {
        foreach (var level in levels) _chip.SetInputValue(Pedal, level);
    }
}
