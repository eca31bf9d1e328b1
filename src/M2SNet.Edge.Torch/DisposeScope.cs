namespace M2SNet.Edge.Torch;

/// <summary>
/// Collects every tensor created on this thread while it is the innermost scope, and frees them
/// when it is disposed: one scope per training step keeps native memory flat without a using per
/// intermediate. Tensors to keep are moved out with <see cref="torch.Tensor.MoveToOuterDisposeScope"/>
/// or <see cref="torch.Tensor.DetachFromDisposeScope"/>.
/// </summary>
public sealed class DisposeScope : IDisposable
{
    [ThreadStatic] private static DisposeScope? t_current;

    private readonly DisposeScope? _outer;
    private readonly HashSet<torch.Tensor> _tensors = new(ReferenceEqualityComparer.Instance);
    private bool _disposed;

    internal DisposeScope()
    {
        _outer = t_current;
        t_current = this;
    }

    internal static DisposeScope? Current => t_current;

    /// <summary>Tensors the scope would free now.</summary>
    public int Count => _tensors.Count;

    internal void Attach(torch.Tensor t) => _tensors.Add(t);

    internal void Detach(torch.Tensor t) => _tensors.Remove(t);

    internal void MoveToOuter(torch.Tensor t)
    {
        _tensors.Remove(t);
        _outer?.Attach(t);
        t.Scope = _outer;
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        if (t_current == this) t_current = _outer;
        foreach (var t in _tensors) t.DisposeFromScope();
        _tensors.Clear();
    }
}
