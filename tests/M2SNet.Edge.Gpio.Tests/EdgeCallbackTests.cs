namespace M2SNet.Edge.Gpio.Tests;

public sealed class EdgeCallbackTests : IDisposable
{
    private const int Pedal = 17;

    private readonly SimulatedGpioDriver _chip = new();
    private readonly GpioController _gpio;
    private readonly EdgeRecorder _recorder = new();

    public EdgeCallbackTests() => _gpio = new GpioController(_chip);

    public void Dispose() => _gpio.Dispose();

    [Fact]
    public void Edges_without_debounce_are_reported_as_they_happen()
    {
        _gpio.OpenPin(Pedal, PinMode.InputPullDown);
        _gpio.RegisterCallbackForPinValueChangedEvent(Pedal, PinEventTypes.Rising | PinEventTypes.Falling, _recorder.Record);

        _chip.SetInputValue(Pedal, PinValue.High);
        _chip.SetInputValue(Pedal, PinValue.Low);

        _recorder.WaitFor(2);
        Assert.Equal([(Pedal, PinEventTypes.Rising), (Pedal, PinEventTypes.Falling)], _recorder.Edges);
    }

    [Fact]
    public void Callback_is_given_only_the_edges_it_asked_for()
    {
        _gpio.OpenPin(Pedal, PinMode.InputPullDown);
        _gpio.RegisterCallbackForPinValueChangedEvent(Pedal, PinEventTypes.Falling, _recorder.Record);

        _chip.SetInputValue(Pedal, PinValue.High);
        _chip.SetInputValue(Pedal, PinValue.Low);
        _chip.SetInputValue(Pedal, PinValue.High);

        _recorder.WaitFor(1);
        Assert.Equal([(Pedal, PinEventTypes.Falling)], _recorder.Edges);
    }

    [Fact]
    public void Callbacks_stop_after_unregister()
    {
        _gpio.OpenPin(Pedal, PinMode.InputPullDown);
        _gpio.RegisterCallbackForPinValueChangedEvent(Pedal, PinEventTypes.Rising | PinEventTypes.Falling, _recorder.Record);
        _chip.SetInputValue(Pedal, PinValue.High);
        _recorder.WaitFor(1);

        _gpio.UnregisterCallbackForPinValueChangedEvent(Pedal, _recorder.Record);
        _chip.SetInputValue(Pedal, PinValue.Low);
        _chip.SetInputValue(Pedal, PinValue.High);

        Assert.Equal([(Pedal, PinEventTypes.Rising)], _recorder.Edges);
    }

    [Fact]
    public void Dispose_stops_event_delivery()
    {
        var debounce = TimeSpan.FromMilliseconds(200);
        _gpio.OpenPin(Pedal, PinMode.InputPullDown, debounce);
        _gpio.RegisterCallbackForPinValueChangedEvent(Pedal, PinEventTypes.Rising | PinEventTypes.Falling, _recorder.Record);

        _chip.SetInputValue(Pedal, PinValue.High);
        _gpio.Dispose();
        Thread.Sleep(5 * debounce);
        _chip.SetInputValue(Pedal, PinValue.Low);
        Thread.Sleep(5 * debounce);

        Assert.Empty(_recorder.Edges);
    }

    [Fact]
    public void Level_the_pedal_already_has_when_watched_is_not_an_edge()
    {
        var debounce = TimeSpan.FromMilliseconds(100);
        _chip.SetInputValue(Pedal, PinValue.High);
        _gpio.OpenPin(Pedal, PinMode.InputPullDown, debounce);

        _gpio.RegisterCallbackForPinValueChangedEvent(Pedal, PinEventTypes.Rising | PinEventTypes.Falling, _recorder.Record);
        Thread.Sleep(6 * debounce);
        Assert.Empty(_recorder.Edges);

        _chip.SetInputValue(Pedal, PinValue.Low);
        _recorder.WaitFor(1);
        Assert.Equal([(Pedal, PinEventTypes.Falling)], _recorder.Edges);
    }
}
