namespace M2SNet.Edge.Gpio;

/// <summary>The edges a callback asks for; a pedal handler usually wants both.</summary>
[Flags]
public enum PinEventTypes
{
    None = 0,
    Rising = 1,
    Falling = 2,
}

/// <summary>One edge on one pin, as delivered to a <see cref="PinChangeEventHandler"/>.</summary>
public sealed class PinValueChangedEventArgs(PinEventTypes changeType, int pinNumber) : EventArgs
{
    /// <summary><see cref="PinEventTypes.Rising"/> or <see cref="PinEventTypes.Falling"/>, never both.</summary>
    public PinEventTypes ChangeType { get; } = changeType;

    public int PinNumber { get; } = pinNumber;
}

/// <summary>
/// Called on the thread that saw the edge (the driver's event thread, a debounce timer's, or whoever drives a
/// simulated line); keep it short, as the chip's next edge waits for it.
/// </summary>
public delegate void PinChangeEventHandler(object sender, PinValueChangedEventArgs e);
