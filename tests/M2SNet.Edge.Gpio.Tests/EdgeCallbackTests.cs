using System.Device.Gpio;

namespace M2SNet.Edge.Gpio.Tests;

/// <summary>Raw edges of the simulated chip through System.Device.Gpio's controller, as the daemon sees a real chip's.</summary>
public sealed class EdgeCallbackTests : IDisposable
{
    private const int Pedal = 17;

    private readonly SimulatedGpioDriver _chip = new();
    private readonly GpioController _gpio;
    private readonly EdgeRecorder _recorder = new();

    public EdgeCallbackTests()
    {
        _gpio = new GpioController(_chip);
        _gpio.OpenPin(Pedal, PinMode.InputPullDown);
    }

    public void Dispose() => _gpio.Dispose();

    [Fact]
    public void Edges_are_reported_as_they_happen()
    {
        _gpio.RegisterCallbackForPinValueChangedEvent(Pedal, PinEventTypes.Rising | PinEventTypes.Falling, _recorder.Record);

        _chip.SetInputValue(Pedal, PinValue.High);
        _chip.SetInputValue(Pedal, PinValue.Low);

        Assert.Equal([(Pedal, PinEventTypes.Rising), (Pedal, PinEventTypes.Falling)], _recorder.Edges);
    }

    [Fact]
    public void Callback_is_given_only_the_edges_it_asked_for()
    {
        _gpio.RegisterCallbackForPinValueChangedEvent(Pedal, PinEventTypes.Falling, _recorder.Record);

        _chip.SetInputValue(Pedal, PinValue.High);
        _chip.SetInputValue(Pedal, PinValue.Low);
        _chip.SetInputValue(Pedal, PinValue.High);

        Assert.Equal([(Pedal, PinEventTypes.Falling)], _recorder.Edges);
    }

    [Fact]
    public void Level_driven_again_is_not_an_edge()
    {
        _gpio.RegisterCallbackForPinValueChangedEvent(Pedal, PinEventTypes.Rising | PinEventTypes.Falling, _recorder.Record);

        _chip.SetInputValue(Pedal, PinValue.High);
        _chip.SetInputValue(Pedal, PinValue.High);

        Assert.Equal([(Pedal, PinEventTypes.Rising)], _recorder.Edges);
    }

    [Fact]
    public void Callbacks_stop_after_unregister()
    {
        _gpio.RegisterCallbackForPinValueChangedEvent(Pedal, PinEventTypes.Rising | PinEventTypes.Falling, _recorder.Record);
        _chip.SetInputValue(Pedal, PinValue.High);

        _gpio.UnregisterCallbackForPinValueChangedEvent(Pedal, _recorder.Record);
        _chip.SetInputValue(Pedal, PinValue.Low);
        _chip.SetInputValue(Pedal, PinValue.High);

        Assert.Equal([(Pedal, PinEventTypes.Rising)], _recorder.Edges);
    }

    [Fact]
    public void Closing_the_pin_drops_its_callbacks()
    {
        _gpio.RegisterCallbackForPinValueChangedEvent(Pedal, PinEventTypes.Rising | PinEventTypes.Falling, _recorder.Record);

        _gpio.ClosePin(Pedal);
        _gpio.OpenPin(Pedal, PinMode.InputPullDown);
        _chip.SetInputValue(Pedal, PinValue.High);

        Assert.Empty(_recorder.Edges);
    }

    [Fact]
    public void Disposing_the_controller_stops_event_delivery()
    {
        _gpio.RegisterCallbackForPinValueChangedEvent(Pedal, PinEventTypes.Rising | PinEventTypes.Falling, _recorder.Record);

        _gpio.Dispose();
        _chip.SetInputValue(Pedal, PinValue.High);

        Assert.Empty(_recorder.Edges);
    }

    [Fact]
    public void Edge_callback_on_an_output_is_refused()
    {
        _gpio.OpenPin(10, PinMode.Output);

        var e = Assert.Throws<InvalidOperationException>(
            () => _gpio.RegisterCallbackForPinValueChangedEvent(10, PinEventTypes.Rising, _recorder.Record));
        Assert.Contains("pin 10 is open as an output", e.Message);
    }

    [Fact]
    public void Callback_that_asks_for_no_edge_is_refused()
    {
        Assert.Throws<ArgumentException>(() => _gpio.RegisterCallbackForPinValueChangedEvent(Pedal, PinEventTypes.None, _recorder.Record));
    }

    [Fact]
    public void Pin_with_callbacks_cannot_become_an_output()
    {
        _gpio.RegisterCallbackForPinValueChangedEvent(Pedal, PinEventTypes.Rising, _recorder.Record);

        Assert.Throws<InvalidOperationException>(() => _gpio.SetPinMode(Pedal, PinMode.Output));
        Assert.Equal(PinMode.InputPullDown, _gpio.GetPinMode(Pedal));
    }

    [Fact]
    public async Task Waiting_for_an_edge_returns_the_edge_asked_for()
    {
        var wait = _gpio.WaitForEventAsync(Pedal, PinEventTypes.Falling, TestContext.Current.CancellationToken);

        _chip.SetInputValue(Pedal, PinValue.High);
        Assert.False(wait.IsCompleted, "a rising edge ended a wait for a falling one");
        _chip.SetInputValue(Pedal, PinValue.Low);
        var result = await wait;

        Assert.False(result.TimedOut);
        Assert.Equal(PinEventTypes.Falling, result.EventTypes);
        // The wait took its callback with it: the line can become an output.
        _gpio.SetPinMode(Pedal, PinMode.Output);
    }

    [Fact]
    public void Wait_that_is_cancelled_times_out()
    {
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();

        var result = _gpio.WaitForEvent(Pedal, PinEventTypes.Rising, cancelled.Token);

        Assert.True(result.TimedOut);
        Assert.Equal(PinEventTypes.None, result.EventTypes);
    }
}
