using System.Runtime.InteropServices;

namespace M2SNet.Edge.Gpio;

/// <summary>
/// The chip or the library refused something: the message names the chip, the pin and the OS error,
/// so a log line alone says which pedal or LED failed and why. Misuse by the caller (a pin that is not
/// open, a write to an input) is an <see cref="InvalidOperationException"/> instead.
/// </summary>
public sealed class GpioException : Exception
{
    public GpioException(string message, int errorNumber = 0, Exception? innerException = null)
        : base(message, innerException)
    {
        ErrorNumber = errorNumber;
    }

    /// <summary>The errno the failing call left, or 0 when the failure was not an OS error.</summary>
    public int ErrorNumber { get; }

    /// <summary>"<paramref name="what"/>: No such file or directory (errno 2)".</summary>
    internal static GpioException FromErrno(string what, int errorNumber) =>
        new($"{what}: {Marshal.GetPInvokeErrorMessage(errorNumber)} (errno {errorNumber})", errorNumber);
}
