namespace M2SNet.Edge.Torch;

public static partial class torch
{
    public static partial class nn
    {
        /// <summary>
        /// A tree of modules with named parameters and buffers. The names given at registration are
        /// the state-dict keys, joined with dots down the tree ("resnet.layer1.0.conv1.weight").
        /// A module owns its parameters and buffers and frees them when disposed.
        /// </summary>
        public abstract class Module : IDisposable
        {
            private readonly List<KeyValuePair<string, Module>> _modules = [];
            private readonly List<KeyValuePair<string, Tensor>> _parameters = [];
            private readonly List<KeyValuePair<string, Tensor>> _buffers = [];
            private bool _disposed;

            /// <summary>True in training mode (batch statistics, running-stat updates), false in eval mode.</summary>
            public bool training { get; private set; } = true;

            protected T register_module<T>(string name, T module) where T : Module
            {
                CheckNewName(name);
                _modules.Add(new(name, module));
                return module;
            }

            /// <summary>Registers a trainable tensor; it leaves any dispose scope, the module owns it.</summary>
            protected Tensor register_parameter(string name, Tensor value)
            {
                CheckNewName(name);
                value.DetachFromDisposeScope();
                if (!value.requires_grad) value.requires_grad = true;
                _parameters.Add(new(name, value));
                return value;
            }

            /// <summary>Registers a state tensor that is saved and loaded but not trained (running statistics).</summary>
            protected Tensor register_buffer(string name, Tensor value)
            {
                CheckNewName(name);
                value.DetachFromDisposeScope();
                _buffers.Add(new(name, value));
                return value;
            }

            /// <summary>The current tensor of a parameter registered on this module (it changes after <see cref="to(Device)"/>).</summary>
            protected Tensor parameter(string name) => Find(_parameters, name);

            protected Tensor buffer(string name) => Find(_buffers, name);

            public IEnumerable<(string name, Module module)> named_children() => _modules.Select(m => (m.Key, m.Value));

            /// <summary>This module ("") and every descendant, depth first, with their dotted paths.</summary>
            public IEnumerable<(string name, Module module)> named_modules()
            {
                yield return ("", this);
                foreach (var (name, child) in _modules)
                {
                    foreach (var (sub, m) in child.named_modules()) yield return (Join(name, sub), m);
                }
            }

            public IEnumerable<(string name, Tensor parameter)> named_parameters(bool recurse = true)
            {
                foreach (var (name, p) in _parameters) yield return (name, p);
                if (!recurse) yield break;
                foreach (var (name, child) in _modules)
                {
                    foreach (var (sub, p) in child.named_parameters()) yield return (Join(name, sub), p);
                }
            }

            public IEnumerable<Tensor> parameters(bool recurse = true) => named_parameters(recurse).Select(p => p.parameter);

            public IEnumerable<(string name, Tensor buffer)> named_buffers(bool recurse = true)
            {
                foreach (var (name, b) in _buffers) yield return (name, b);
                if (!recurse) yield break;
                foreach (var (name, child) in _modules)
                {
                    foreach (var (sub, b) in child.named_buffers()) yield return (Join(name, sub), b);
                }
            }

            /// <summary>Every parameter and buffer by key, in PyTorch's order (a module's own, then its children's).</summary>
            public IReadOnlyList<KeyValuePair<string, Tensor>> state_dict()
            {
                var result = new List<KeyValuePair<string, Tensor>>();
                Collect("", result);
                return result;
            }

            /// <summary>
            /// Copies values into the parameters and buffers. With <paramref name="strict"/>, every key
            /// must match exactly. All checks run before anything is written, so a refused load leaves
            /// the module as it was.
            /// </summary>
            public void load_state_dict(IReadOnlyDictionary<string, Tensor> values, bool strict = true)
            {
                var own = state_dict();
                var problems = new List<string>();
                var missing = own.Where(p => !values.ContainsKey(p.Key)).Select(p => p.Key).ToList();
                var ownKeys = own.Select(p => p.Key).ToHashSet(StringComparer.Ordinal);
                var unexpected = values.Keys.Where(k => !ownKeys.Contains(k)).ToList();
                if (strict && missing.Count > 0) problems.Add($"missing keys ({missing.Count}): {Abbreviate(missing)}");
                if (strict && unexpected.Count > 0) problems.Add($"unexpected keys ({unexpected.Count}): {Abbreviate(unexpected)}");
                var mismatched = new List<string>();
                foreach (var (key, target) in own)
                {
                    if (!values.TryGetValue(key, out var source)) continue;
                    var (a, b) = (target.shape, source.shape);
                    if (!a.SequenceEqual(b)) mismatched.Add($"{key}: model [{string.Join(", ", a)}], given [{string.Join(", ", b)}]");
                }
                if (mismatched.Count > 0) problems.Add($"shape mismatches ({mismatched.Count}): {Abbreviate(mismatched)}");
                if (problems.Count > 0) throw new StateDictException(problems);

                using var _ = no_grad();
                foreach (var (key, target) in own)
                {
                    if (values.TryGetValue(key, out var source)) target.copy_(source);
                }
            }

            public Module train(bool mode = true)
            {
                foreach (var (_, m) in named_modules()) m.training = mode;
                return this;
            }

            public Module eval() => train(false);

            /// <summary>Moves every parameter and buffer to the device (parameters stay trainable leaves).</summary>
            public Module to(Device device)
            {
                foreach (var (_, m) in named_modules())
                {
                    Move(m._parameters, p => p.detach().to(device).requires_grad_(p.requires_grad));
                    Move(m._buffers, b => b.to(device));
                }
                return this;
            }

            /// <summary>Converts every floating-point parameter and buffer (counters keep their integer type).</summary>
            public Module to(ScalarType type)
            {
                static bool Floating(Tensor t) => t.dtype is ScalarType.Float16 or ScalarType.Float32 or ScalarType.Float64 or ScalarType.BFloat16;
                foreach (var (_, m) in named_modules())
                {
                    Move(m._parameters, p => p.detach().to(type).requires_grad_(p.requires_grad));
                    Move(m._buffers, b => Floating(b) ? b.to(type) : b.clone());
                }
                return this;
            }

            /// <summary>Number of trainable elements.</summary>
            public long parameter_count() => parameters().Sum(p => p.numel());

            public void Dispose()
            {
                if (_disposed) return;
                _disposed = true;
                OnDispose();
                foreach (var (_, p) in _parameters) p.Dispose();
                foreach (var (_, b) in _buffers) b.Dispose();
                foreach (var (_, m) in _modules) m.Dispose();
                GC.SuppressFinalize(this);
            }

            /// <summary>Frees tensors a module holds outside its parameters and buffers (constants).</summary>
            protected virtual void OnDispose()
            {
            }

            private void Collect(string prefix, List<KeyValuePair<string, Tensor>> into)
            {
                foreach (var (name, p) in _parameters) into.Add(new(prefix + name, p));
                foreach (var (name, b) in _buffers) into.Add(new(prefix + name, b));
                foreach (var (name, m) in _modules) m.Collect(prefix + name + ".", into);
            }

            private static void Move(List<KeyValuePair<string, Tensor>> entries, Func<Tensor, Tensor> move)
            {
                for (var i = 0; i < entries.Count; i++)
                {
                    var old = entries[i].Value;
                    var moved = move(old).DetachFromDisposeScope();
                    entries[i] = new(entries[i].Key, moved);
                    old.Dispose();
                }
            }

            private void CheckNewName(string name)
            {
                if (string.IsNullOrEmpty(name) || name.Contains('.'))
                {
                    throw new ArgumentException($"'{name}' is not a valid member name (non-empty, no dots)");
                }
                if (_modules.Any(m => m.Key == name) || _parameters.Any(p => p.Key == name) || _buffers.Any(b => b.Key == name))
                {
                    throw new ArgumentException($"'{name}' is already registered on {GetType().Name}");
                }
            }

            private Tensor Find(List<KeyValuePair<string, Tensor>> entries, string name)
            {
                foreach (var (k, v) in entries)
                {
                    if (k == name) return v;
                }
                throw new KeyNotFoundException($"{GetType().Name} has no '{name}'");
            }

            private static string Join(string a, string b) => b.Length == 0 ? a : a + "." + b;

            private static string Abbreviate(List<string> items) =>
                string.Join(", ", items.Take(12)) + (items.Count > 12 ? $", ... ({items.Count - 12} more)" : "");
        }

        /// <summary>A module with a single-input forward pass.</summary>
        public abstract class Module<TInput, TOutput> : Module
        {
            public abstract TOutput forward(TInput input);

            public TOutput call(TInput input) => forward(input);
        }
    }

    /// <summary>A state dict that does not fit a model: every problem found, listed together.</summary>
    public sealed class StateDictException(IReadOnlyList<string> problems)
        : Exception("the checkpoint does not match the model: " + string.Join("; ", problems))
    {
        public IReadOnlyList<string> Problems { get; } = problems;
    }
}
