namespace M2SNet.Edge.Torch;

/// <summary>Element types, numbered as c10::ScalarType.</summary>
public enum ScalarType
{
    Byte = 0,
    Int8 = 1,
    Int16 = 2,
    Int32 = 3,
    Int64 = 4,
    Float16 = 5,
    Float32 = 6,
    Float64 = 7,
    Bool = 11,
    BFloat16 = 15,
}

/// <summary>Device kinds, numbered as c10::DeviceType.</summary>
public enum DeviceType
{
    CPU = 0,
    CUDA = 1,
}

/// <summary>Where a tensor lives: "cpu", "cuda", "cuda:1".</summary>
public readonly record struct Device(DeviceType Type, int Index = -1)
{
    public static Device CPU { get; } = new(DeviceType.CPU);

    public static Device CUDA(int index = 0) => new(DeviceType.CUDA, index);

    public static Device Parse(string text)
    {
        var t = text.Trim().ToLowerInvariant();
        if (t == "cpu") return CPU;
        if (t == "cuda") return CUDA();
        if (t.StartsWith("cuda:", StringComparison.Ordinal) && int.TryParse(t.AsSpan(5), out var i) && i >= 0) return CUDA(i);
        throw new ArgumentException($"unknown device '{text}' (use cpu, cuda or cuda:N)", nameof(text));
    }

    public override string ToString() => Type == DeviceType.CPU ? "cpu" : Index < 0 ? "cuda" : $"cuda:{Index}";
}

/// <summary>Facts about element types.</summary>
public static class ScalarTypes
{
    public static int ElementSize(ScalarType t) => t switch
    {
        ScalarType.Byte or ScalarType.Int8 or ScalarType.Bool => 1,
        ScalarType.Int16 or ScalarType.Float16 or ScalarType.BFloat16 => 2,
        ScalarType.Int32 or ScalarType.Float32 => 4,
        ScalarType.Int64 or ScalarType.Float64 => 8,
        _ => throw new NotSupportedException($"element size of {t}"),
    };

    public static ScalarType Of<T>() where T : unmanaged => typeof(T) switch
    {
        var x when x == typeof(float) => ScalarType.Float32,
        var x when x == typeof(double) => ScalarType.Float64,
        var x when x == typeof(Half) => ScalarType.Float16,
        var x when x == typeof(long) => ScalarType.Int64,
        var x when x == typeof(int) => ScalarType.Int32,
        var x when x == typeof(short) => ScalarType.Int16,
        var x when x == typeof(sbyte) => ScalarType.Int8,
        var x when x == typeof(byte) => ScalarType.Byte,
        var x when x == typeof(bool) => ScalarType.Bool,
        _ => throw new NotSupportedException($"{typeof(T).Name} has no torch element type"),
    };
}
