using System.Device.Gpio;
using System.Device.Gpio.Drivers;
using System.Globalization;
using System.Runtime.InteropServices;

namespace M2SNet.Edge.Gpio;

/// <summary>The C API of libgpiod that System.Device.Gpio drives a chip through.</summary>
public enum LibGpiodApi
{
    /// <summary>libgpiod 1.x, libgpiod.so.2 (Debian 12's libgpiod2): <see cref="LibGpiodDriver"/>.</summary>
    V1,

    /// <summary>libgpiod 2.x, libgpiod.so.3 (Debian 13's libgpiod3): <see cref="LibGpiodV2Driver"/>.</summary>
    V2,
}

/// <summary>
/// Opens a real GPIO chip, /dev/gpiochipN, with the System.Device.Gpio driver for the libgpiod this
/// machine has. System.Device.Gpio 4.2 leaves that choice to the caller (two driver classes, each bound
/// to one soname), so it is made here, once: the v2 driver where libgpiod.so.3 loads, else the v1 driver
/// where libgpiod.so.2 does. Every refusal is a <see cref="GpioException"/> naming what is missing.
/// </summary>
public static class GpioChip
{
    public const string V1Library = "libgpiod.so.2";
    public const string V2Library = "libgpiod.so.3";

    private const string DevicePrefix = "/dev/gpiochip";

    /// <summary>The API the installed libgpiod offers, or null when neither library loads.</summary>
    public static LibGpiodApi? InstalledApi() => ChooseApi(LibraryLoads);

    /// <summary>A driver for the chip at <paramref name="chipPath"/> (/dev/gpiochipN), for a <see cref="GpioController"/> to own.</summary>
    /// <exception cref="GpioException">The path is not a chip's, the chip is not there, libgpiod is missing, or the driver refused the chip.</exception>
    public static GpioDriver Open(string chipPath) => Open(chipPath, LibraryLoads);

    /// <summary><see cref="Open(string)"/> with the library probe given, so tests can take libgpiod away.</summary>
    internal static GpioDriver Open(string chipPath, Func<string, bool> libraryLoads)
    {
        ArgumentException.ThrowIfNullOrEmpty(chipPath);
        if (!chipPath.StartsWith(DevicePrefix, StringComparison.Ordinal)
            || !int.TryParse(chipPath.AsSpan(DevicePrefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out var chipNumber))
        {
            throw new GpioException($"GPIO chip {chipPath} is not a chip's device path: libgpiod opens chips by number, as {DevicePrefix}N");
        }
        if (ChooseApi(libraryLoads) is not { } api)
        {
            var chip = File.Exists(chipPath) ? "" : $"; nor is the chip there ({ChipsPresent()})";
            throw new GpioException(
                $"GPIO chip {chipPath} cannot be used: libgpiod is not installed (neither {V2Library} nor {V1Library} loads; build/bootstrap.sh gpiod installs libgpiod2){chip}");
        }
        try
        {
            return api == LibGpiodApi.V2 ? new LibGpiodV2Driver(chipNumber) : new LibGpiodDriver(chipNumber);
        }
        catch (IOException e) when (!File.Exists(chipPath))
        {
            throw new GpioException($"GPIO chip {chipPath} not found ({ChipsPresent()})", e);
        }
        catch (IOException e)
        {
            throw new GpioException($"GPIO chip {chipPath} could not be opened through libgpiod's {api} API: {e.Message}", e);
        }
        catch (Exception e) when (e is PlatformNotSupportedException or DllNotFoundException or EntryPointNotFoundException or TypeInitializationException)
        {
            // The library loaded for the probe, yet the driver could not bind to it (another ABI, say).
            throw new GpioException($"GPIO chip {chipPath}: System.Device.Gpio's libgpiod {api} driver cannot use {LibraryOf(api)}: {e.GetBaseException().Message}", e);
        }
    }

    /// <summary>v2 where libgpiod.so.3 loads (its ABI is v2), else v1 where libgpiod.so.2 does, else none.</summary>
    internal static LibGpiodApi? ChooseApi(Func<string, bool> libraryLoads) =>
        libraryLoads(V2Library) ? LibGpiodApi.V2
        : libraryLoads(V1Library) ? LibGpiodApi.V1
        : null;

    private static string LibraryOf(LibGpiodApi api) => api == LibGpiodApi.V2 ? V2Library : V1Library;

    private static bool LibraryLoads(string soname)
    {
        if (!NativeLibrary.TryLoad(soname, out var handle)) return false;
        NativeLibrary.Free(handle);
        return true;
    }

    /// <summary>"this machine has /dev/gpiochip0, /dev/gpiochip1", or that it has none.</summary>
    private static string ChipsPresent()
    {
        var chips = Directory.Exists("/dev") ? Directory.GetFiles("/dev", "gpiochip*") : [];
        Array.Sort(chips, StringComparer.Ordinal);
        return chips.Length == 0 ? "this machine has no /dev/gpiochip* devices" : $"this machine has {string.Join(", ", chips)}";
    }
}
