namespace M2SNet.Edge.Gpio;

/// <summary>The level of a line. A struct rather than a bool so call sites read as levels, not flags.</summary>
public readonly struct PinValue : IEquatable<PinValue>
{
    private readonly bool _high;

    private PinValue(bool high) => _high = high;

    public static PinValue High { get; } = new(true);

    public static PinValue Low { get; } = new(false);

    public static implicit operator PinValue(bool high) => new(high);

    public static explicit operator bool(PinValue value) => value._high;

    public static bool operator ==(PinValue left, PinValue right) => left._high == right._high;

    public static bool operator !=(PinValue left, PinValue right) => left._high != right._high;

    public bool Equals(PinValue other) => _high == other._high;

    public override bool Equals(object? obj) => obj is PinValue other && Equals(other);

    public override int GetHashCode() => _high.GetHashCode();

    public override string ToString() => _high ? "High" : "Low";
}
