using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using M2SNet.Edge.Gpio.Native;

namespace M2SNet.Edge.Gpio.Tests;

/// <summary>Against the real libgpiod.so.2. This machine has no GPIO chip, so these cover loading and refusal.</summary>
public sealed class LibGpiodDriverTests
{
    [Fact]
    public void Absent_chip_gives_a_clear_error()
    {
        var e = Assert.Throws<GpioException>(() => new LibGpiodDriver("/dev/gpiochip99"));

        Assert.StartsWith("GPIO chip /dev/gpiochip99 not found: ", e.Message);
        Assert.Equal(2, e.ErrorNumber);
    }

    [Fact]
    public void Real_driver_library_loads()
    {
        var e = Record.Exception(() => new LibGpiodDriver(Path.Combine(Path.GetTempPath(), "no-such-dir", "gpiochip0")));

        var gpio = Assert.IsType<GpioException>(e);
        Assert.Null(gpio.InnerException);
        Assert.Contains("not found", gpio.Message);
    }

    [Fact]
    public void Real_driver_library_is_the_v1_6_api_the_binding_was_written_for()
    {
        Assert.StartsWith("1.6.", LibGpiodDriver.LibraryVersion);
    }

    [Fact]
    public void Device_that_is_not_a_gpio_chip_is_refused_with_the_os_error()
    {
        var e = Assert.Throws<GpioException>(() => new LibGpiodDriver("/dev/null"));

        Assert.StartsWith("GPIO chip /dev/null could not be opened: ", e.Message);
        Assert.NotEqual(0, e.ErrorNumber);
        Assert.Contains($"(errno {e.ErrorNumber})", e.Message);
    }

    [Fact]
    public void Native_structs_have_the_layout_of_the_v1_6_header()
    {
        Assert.SkipUnless(Environment.Is64BitProcess, "the sizes below are those of a 64-bit build");

        Assert.Equal(24, Unsafe.SizeOf<LibGpiod.LineEvent>());
        Assert.Equal(16, (int)Marshal.OffsetOf<LibGpiod.LineEvent>(nameof(LibGpiod.LineEvent.EventType)));
        Assert.Equal(520, Unsafe.SizeOf<LibGpiod.LineBulk>());
        Assert.Equal(512, (int)Marshal.OffsetOf<LibGpiod.LineBulk>(nameof(LibGpiod.LineBulk.NumLines)));
    }
}
