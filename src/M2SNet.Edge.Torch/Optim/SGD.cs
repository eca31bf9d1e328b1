namespace M2SNet.Edge.Torch;

public static partial class torch
{
    public static partial class optim
    {
        /// <summary>A set of parameters sharing one learning rate and its hyper-parameters.</summary>
        public sealed class ParamGroup(string name, IReadOnlyList<Tensor> parameters, double lr)
        {
            public string Name { get; } = name;
            public IReadOnlyList<Tensor> Parameters { get; } = parameters;
            public double lr { get; set; } = lr;
            /// <summary>The group's rate before any schedule; schedules scale from it.</summary>
            public double initial_lr { get; } = lr;
        }

        /// <summary>
        /// Stochastic gradient descent with momentum, Nesterov and weight decay, as torch.optim.SGD:
        /// d = g + wd·p; buf = m·buf + (1 − dampening)·d (buf = d on the first step);
        /// d = d + m·buf (Nesterov) or d = buf; p = p − lr·d. Parameters without a gradient are skipped.
        /// </summary>
        public sealed class SGD : IDisposable
        {
            private readonly Dictionary<Tensor, Tensor> _momentum = new(ReferenceEqualityComparer.Instance);

            public SGD(IReadOnlyList<ParamGroup> groups, double momentum = 0, double weight_decay = 0, bool nesterov = false, double dampening = 0)
            {
                if (nesterov && (momentum <= 0 || dampening != 0))
                {
                    throw new ArgumentException("Nesterov momentum needs momentum > 0 and zero dampening");
                }
                param_groups = groups;
                Momentum = momentum;
                WeightDecay = weight_decay;
                Nesterov = nesterov;
                Dampening = dampening;
            }

            public IReadOnlyList<ParamGroup> param_groups { get; }
            public double Momentum { get; }
            public double WeightDecay { get; }
            public bool Nesterov { get; }
            public double Dampening { get; }

            /// <summary>Momentum buffers by parameter, for checkpoints (absent until a parameter's first step).</summary>
            public IReadOnlyDictionary<Tensor, Tensor> MomentumBuffers => _momentum;

            public void zero_grad()
            {
                foreach (var g in param_groups)
                {
                    foreach (var p in g.Parameters) p.zero_grad();
                }
            }

            public void step()
            {
                using var _ = no_grad();
                foreach (var group in param_groups)
                {
                    foreach (var p in group.Parameters)
                    {
                        using var d = p.grad;
                        if (d is null) continue;
                        if (WeightDecay != 0) d.add_(p, WeightDecay);
                        if (Momentum != 0)
                        {
                            if (_momentum.TryGetValue(p, out var buf))
                            {
                                buf.mul_(Momentum).add_(d, 1 - Dampening);
                            }
                            else
                            {
                                buf = d.clone().DetachFromDisposeScope();
                                _momentum[p] = buf;
                            }
                            if (Nesterov) d.add_(buf, Momentum);
                            else d.copy_(buf);
                        }
                        p.add_(d, -group.lr);
                    }
                }
            }

            /// <summary>Restores a momentum buffer saved with a checkpoint.</summary>
            public void SetMomentumBuffer(Tensor parameter, Tensor buffer)
            {
                if (_momentum.Remove(parameter, out var old)) old.Dispose();
                _momentum[parameter] = buffer.DetachFromDisposeScope();
            }

            public void Dispose()
            {
                foreach (var b in _momentum.Values) b.Dispose();
                _momentum.Clear();
            }
        }
    }
}
