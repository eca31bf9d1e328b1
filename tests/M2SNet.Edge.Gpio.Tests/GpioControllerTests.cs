namespace M2SNet.Edge.Gpio.Tests;

public sealed class GpioControllerTests : IDisposable
{
    private readonly SimulatedGpioDriver _chip = new(lines: 64);
    private readonly GpioController _gpio;

    public GpioControllerTests() => _gpio = new GpioController(_chip);

    public void Dispose() => _gpio.Dispose();

    [Fact]
    public void Written_output_is_seen_on_the_simulated_line()
    {
        _gpio.OpenPin(5, PinMode.Output);

        _gpio.Write(5, PinValue.High);
        Assert.Equal(PinValue.High, _chip.GetOutputValue(5));

        _gpio.Write(5, PinValue.Low);
        Assert.Equal(PinValue.Low, _chip.GetOutputValue(5));
    }

    [Fact]
    public void Output_starts_low_and_reads_back_what_was_written()
    {
        _gpio.OpenPin(5, PinMode.Output);
        Assert.Equal(PinValue.Low, _gpio.Read(5));

        _gpio.Write(5, true);
        Assert.Equal(PinValue.High, _gpio.Read(5));
    }

    [Fact]
    public void Led_changes_are_reported_once_per_change_of_level()
    {
        var changes = new List<PinEventTypes>();
        _chip.OutputChanged += (_, e) => changes.Add(e.ChangeType);
        _gpio.OpenPin(7, PinMode.Output);

        _gpio.Write(7, PinValue.High);
        _gpio.Write(7, PinValue.High);
        _gpio.Write(7, PinValue.Low);

        Assert.Equal([PinEventTypes.Rising, PinEventTypes.Falling], changes);
    }

    [Fact]
    public void Input_reads_the_level_the_test_drives()
    {
        _gpio.OpenPin(3, PinMode.Input);

        _chip.SetInputValue(3, PinValue.High);
        Assert.Equal(PinValue.High, _gpio.Read(3));

        _chip.SetInputValue(3, PinValue.Low);
        Assert.Equal(PinValue.Low, _gpio.Read(3));
    }

    [Fact]
    public void Undriven_pull_up_input_reads_high_and_pull_down_input_reads_low()
    {
        _gpio.OpenPin(1, PinMode.InputPullUp);
        _gpio.OpenPin(2, PinMode.InputPullDown);

        Assert.Equal(PinValue.High, _gpio.Read(1));
        Assert.Equal(PinValue.Low, _gpio.Read(2));
    }

    [Fact]
    public void Reading_a_pin_that_is_not_open_is_an_error()
    {
        var e = Assert.Throws<InvalidOperationException>(() => _gpio.Read(4));
        Assert.Contains("pin 4 is not open", e.Message);
    }

    [Fact]
    public void Writing_an_input_pin_is_an_error()
    {
        _gpio.OpenPin(4, PinMode.InputPullUp);

        var e = Assert.Throws<InvalidOperationException>(() => _gpio.Write(4, PinValue.Low));
        Assert.Contains("pin 4 is open as InputPullUp", e.Message);
        Assert.Equal(PinValue.High, _gpio.Read(4));
    }

    [Fact]
    public void Opening_a_pin_twice_is_an_error()
    {
        _gpio.OpenPin(6, PinMode.Input);

        var e = Assert.Throws<InvalidOperationException>(() => _gpio.OpenPin(6, PinMode.Output));
        Assert.Contains("pin 6 is already open", e.Message);
        Assert.Equal(PinMode.Input, _gpio.GetPinMode(6));
    }

    [Theory]
    [InlineData(64)]
    [InlineData(-1)]
    public void Pin_out_of_range_is_an_error(int pin)
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => _gpio.OpenPin(pin, PinMode.Input));
        Assert.Contains($"pin {pin} is not on this chip", e.Message);
    }

    [Fact]
    public void Closed_pin_can_be_opened_again_in_another_mode()
    {
        _gpio.OpenPin(8, PinMode.Input);
        _gpio.ClosePin(8);
        Assert.False(_gpio.IsPinOpen(8));

        _gpio.OpenPin(8, PinMode.Output);
        Assert.True(_gpio.IsPinOpen(8));
        Assert.Equal(PinMode.Output, _gpio.GetPinMode(8));
    }

    [Fact]
    public void Debounce_on_an_output_is_rejected()
    {
        Assert.Throws<ArgumentException>(() => _gpio.OpenPin(9, PinMode.Output, TimeSpan.FromMilliseconds(20)));
        Assert.False(_gpio.IsPinOpen(9));
    }

    [Fact]
    public void Edge_callback_on_an_output_is_an_error()
    {
        _gpio.OpenPin(10, PinMode.Output);

        var e = Assert.Throws<InvalidOperationException>(
            () => _gpio.RegisterCallbackForPinValueChangedEvent(10, PinEventTypes.Rising, (_, _) => { }));
        Assert.Contains("pin 10", e.Message);
    }
}
