using System.Device.Gpio;

namespace M2SNet.Edge.Gpio.Tests;

/// <summary>System.Device.Gpio's controller over the simulated chip: the path the daemon takes with or without hardware.</summary>
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
    public void Output_opened_with_a_level_starts_at_it()
    {
        _gpio.OpenPin(5, PinMode.Output, PinValue.High);

        Assert.Equal(PinValue.High, _chip.GetOutputValue(5));
    }

    [Fact]
    public void Toggle_flips_an_output()
    {
        _gpio.OpenPin(5, PinMode.Output);

        _gpio.Toggle(5);
        Assert.Equal(PinValue.High, _chip.GetOutputValue(5));
        _gpio.Toggle(5);
        Assert.Equal(PinValue.Low, _chip.GetOutputValue(5));
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
    public void Level_driven_while_the_pin_was_closed_is_read_once_it_opens()
    {
        _chip.SetInputValue(3, PinValue.High);

        _gpio.OpenPin(3, PinMode.InputPullDown);

        Assert.Equal(PinValue.High, _gpio.Read(3));
    }

    [Fact]
    public void Writing_an_input_leaves_its_level_alone()
    {
        _gpio.OpenPin(4, PinMode.InputPullUp);

        _gpio.Write(4, PinValue.Low);

        Assert.Equal(PinValue.High, _gpio.Read(4));
    }

    [Fact]
    public void Test_cannot_drive_a_line_the_chip_drives()
    {
        _gpio.OpenPin(9, PinMode.Output);

        var e = Assert.Throws<InvalidOperationException>(() => _chip.SetInputValue(9, PinValue.High));
        Assert.Contains("pin 9 is open as an output", e.Message);
    }

    [Fact]
    public void Reading_a_pin_that_is_not_open_is_an_error()
    {
        var e = Assert.Throws<InvalidOperationException>(() => _gpio.Read(4));
        Assert.Contains("pin 4", e.Message);
    }

    [Fact]
    public void Opening_an_open_pin_again_gives_the_same_pin()
    {
        var first = _gpio.OpenPin(6, PinMode.Input);

        Assert.Same(first, _gpio.OpenPin(6));
        Assert.Equal(PinMode.Input, _gpio.GetPinMode(6));
    }

    [Theory]
    [InlineData(64)]
    [InlineData(-1)]
    public void Pin_that_is_not_on_the_chip_is_refused(int pin)
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => _gpio.OpenPin(pin, PinMode.Input));

        Assert.Contains($"pin {pin} is not on this chip (it has pins 0 to 63)", e.Message);
        Assert.False(_gpio.IsPinOpen(pin));
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
    public void Closing_a_pin_that_is_not_open_is_an_error()
    {
        Assert.Throws<InvalidOperationException>(() => _gpio.ClosePin(11));
    }

    [Fact]
    public void Controller_reports_the_chip_s_lines_and_modes()
    {
        using var gpio = new GpioController(new SimulatedGpioDriver(lines: 8));

        Assert.Equal(8, gpio.PinCount);
        Assert.All(Enum.GetValues<PinMode>(), mode => Assert.True(gpio.IsPinModeSupported(0, mode)));
    }

    [Fact]
    public void Disposing_the_controller_disposes_the_chip()
    {
        _gpio.OpenPin(5, PinMode.Output);

        _gpio.Dispose();

        Assert.Throws<ObjectDisposedException>(() => _gpio.OpenPin(5));
        using var again = new GpioController(_chip);
        Assert.Throws<ObjectDisposedException>(() => again.OpenPin(5));
    }
}
