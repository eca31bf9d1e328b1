namespace M2SNet.Edge.OnnxRuntime;

/// <summary>
/// An input or output of a model: its value kind, element type and shape. A dimension the model
/// leaves open is -1 in <see cref="Dimensions"/> and named in <see cref="SymbolicDimensions"/>.
/// </summary>
public sealed record NodeMetadata(
    string Name,
    OnnxValueType OnnxValueType,
    TensorElementType ElementType,
    IReadOnlyList<long> Dimensions,
    IReadOnlyList<string> SymbolicDimensions)
{
    public bool IsTensor => OnnxValueType == OnnxValueType.Tensor;

    /// <summary>The shape as text, e.g. "[batch, 3, 352, 352]".</summary>
    public string ShapeText => "[" + string.Join(", ", Dimensions.Select((d, i) =>
        d >= 0 ? d.ToString(System.Globalization.CultureInfo.InvariantCulture)
        : SymbolicDimensions[i] is { Length: > 0 } s ? s : "?")) + "]";

    public override string ToString() => $"{Name}: {ElementType} {ShapeText}";
}
