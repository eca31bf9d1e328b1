namespace M2SNet.Edge.Gpio;

/// <summary>
/// A GPIO chip cannot be used: the message names the chip and what is missing (the device, libgpiod)
/// or what refused, so one log line says why the pedal and LEDs are off. An <see cref="IOException"/>
/// like the refusals of System.Device.Gpio's drivers, so one catch takes both.
/// </summary>
public sealed class GpioException : IOException
{
    public GpioException(string message, Exception? innerException = null)
        : base(message, innerException)
    {
    }
}
