using static M2SNet.Edge.Torch.torch;

namespace M2SNet.Edge.Models.Networks;

/// <summary>A unit that compares two feature maps of the same size and returns their difference features.</summary>
public interface ISubtractionUnit
{
    T Forward<T>(IOps<T> ops, T a, T b);
}

/// <summary>
/// A 3×3 conv (with bias), batch norm and ReLU registered directly as children "0", "1" (and the
/// parameter-free "2"), which is how the authors' units lay out their keys.
/// </summary>
public abstract class ConvBnReluModule : nn.Module
{
    private readonly nn.Conv2d _conv;
    private readonly nn.BatchNorm2d _bn;

    protected ConvBnReluModule(long channels)
    {
        _conv = register_module("0", new nn.Conv2d(channels, channels, 3, padding: 1));
        _bn = register_module("1", new nn.BatchNorm2d(channels));
        register_module("2", new nn.ReLU());
    }

    protected T ConvBnRelu<T>(IOps<T> ops, T x) => ops.Relu(ops.Apply(_bn, ops.Apply(_conv, x)));
}

/// <summary>MSNet's subtraction unit (MICCAI 2021, Eq. 1): SU(A, B) = CBR(|A − B|).</summary>
public sealed class SubtractionUnit(long channels = 64) : ConvBnReluModule(channels), ISubtractionUnit
{
    public T Forward<T>(IOps<T> ops, T a, T b) => ConvBnRelu(ops, ops.Abs(ops.Sub(a, b)));
}

/// <summary>
/// C_k of M2SNet: a k×k convolution with fixed all-ones weights (not trained, not saved), then a
/// batch norm ("norm") and ReLU. One instance per k is shared by every unit at every scale.
/// </summary>
public sealed class FixedOnesFilter : nn.Module
{
    private readonly nn.BatchNorm2d norm;

    public FixedOnesFilter(int kernel, long channels = 64)
    {
        Kernel = kernel;
        norm = register_module(nameof(norm), new nn.BatchNorm2d(channels));
    }

    public int Kernel { get; }

    public T Forward<T>(IOps<T> ops, T x) => ops.Relu(ops.Apply(norm, ops.OnesConv(x, Kernel)));
}

/// <summary>
/// M2SNet's multi-scale subtraction unit (Eq. 2): MSU(A, B) = CBR(|A − B| + |C3(A) − C3(B)| + |C5(A) − C5(B)|),
/// where C3 and C5 are the shared fixed all-ones filters (they are owned by the network, not the unit).
/// </summary>
public sealed class MultiScaleSubtractionUnit(FixedOnesFilter c3, FixedOnesFilter c5, long channels = 64)
    : ConvBnReluModule(channels), ISubtractionUnit
{
    public T Forward<T>(IOps<T> ops, T a, T b)
    {
        var single = ops.Abs(ops.Sub(a, b));
        var three = ops.Abs(ops.Sub(c3.Forward(ops, a), c3.Forward(ops, b)));
        var five = ops.Abs(ops.Sub(c5.Forward(ops, a), c5.Forward(ops, b)));
        return ConvBnRelu(ops, ops.Add(ops.Add(single, three), five));
    }
}
