namespace M2SNet.Edge.Gpio;

/// <summary>How a pin is requested from the chip.</summary>
public enum PinMode
{
    /// <summary>Input with the bias left as the board's firmware configured it.</summary>
    Input,

    /// <summary>Input pulled up inside the chip, for a switch that shorts the line to ground.</summary>
    InputPullUp,

    /// <summary>Input pulled down inside the chip, for a switch that connects the line to the supply.</summary>
    InputPullDown,

    /// <summary>Output, driven low until the first write.</summary>
    Output,
}
