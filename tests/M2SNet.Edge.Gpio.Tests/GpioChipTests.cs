using System.Device.Gpio.Drivers;

namespace M2SNet.Edge.Gpio.Tests;

/// <summary>
/// Against the real libgpiod.so.2 and System.Device.Gpio's real driver. This machine has no GPIO chip,
/// so these cover the choice of driver, loading, and the refusals the daemon logs.
/// </summary>
public sealed class GpioChipTests
{
    private const string AbsentChip = "/dev/gpiochip99";

    [Fact]
    public void Real_libgpiod_driver_refuses_an_absent_chip()
    {
        // An IOException, not a TypeInitializationException: the driver loaded libgpiod, then found no chip.
        var e = Record.Exception(() => new LibGpiodDriver(99));

        Assert.IsType<IOException>(e);
    }

    [Fact]
    public void Absent_chip_is_named_with_the_chips_this_machine_has()
    {
        var e = Assert.Throws<GpioException>(() => GpioChip.Open(AbsentChip));

        Assert.StartsWith($"GPIO chip {AbsentChip} not found (this machine has ", e.Message);
        var present = Directory.GetFiles("/dev", "gpiochip*");
        Assert.Contains(present.Length == 0 ? "no /dev/gpiochip* devices" : present[0], e.Message);
        // The refusal is the real driver's, not a guess made before asking it.
        Assert.IsAssignableFrom<IOException>(e.InnerException);
        Assert.IsNotType<GpioException>(e.InnerException);
    }

    [Theory]
    [InlineData("/dev/gpiochip-absent")]
    [InlineData("/dev/null")]
    [InlineData("gpiochip0")]
    public void Path_that_is_not_a_chip_device_is_refused(string path)
    {
        var e = Assert.Throws<GpioException>(() => GpioChip.Open(path));

        Assert.Equal($"GPIO chip {path} is not a chip's device path: libgpiod opens chips by number, as /dev/gpiochipN", e.Message);
    }

    [Fact]
    public void Missing_libgpiod_is_named_with_both_libraries_looked_for()
    {
        var e = Assert.Throws<GpioException>(() => GpioChip.Open(AbsentChip, libraryLoads: _ => false));

        Assert.StartsWith($"GPIO chip {AbsentChip} cannot be used: libgpiod is not installed (neither libgpiod.so.3 nor libgpiod.so.2 loads;", e.Message);
        Assert.Contains("nor is the chip there", e.Message);
    }

    [Fact]
    public void V2_driver_is_chosen_only_where_libgpiod_so_3_loads()
    {
        Assert.Equal(LibGpiodApi.V2, GpioChip.ChooseApi(_ => true));
        Assert.Equal(LibGpiodApi.V2, GpioChip.ChooseApi(soname => soname == GpioChip.V2Library));
        Assert.Equal(LibGpiodApi.V1, GpioChip.ChooseApi(soname => soname == GpioChip.V1Library));
        Assert.Null(GpioChip.ChooseApi(_ => false));
    }

    [Fact]
    public void Debian_12_libgpiod_is_driven_through_the_v1_api()
    {
        // libgpiod2 1.6 (libgpiod.so.2) and no libgpiod.so.3: what the appliance and CI run.
        Assert.Equal(LibGpiodApi.V1, GpioChip.InstalledApi());
    }
}
