using static M2SNet.Edge.Torch.Native.LibTorch;

namespace M2SNet.Edge.Torch;

public static partial class torch
{
    public static partial class nn
    {
        /// <summary>2-D convolution; parameters "weight" [out, in/groups, kh, kw] and optionally "bias" [out].</summary>
        public sealed class Conv2d : Module<Tensor, Tensor>
        {
            public Conv2d(long in_channels, long out_channels, long kernel_size, long stride = 1, long padding = 0,
                long dilation = 1, long groups = 1, bool bias = true)
            {
                InChannels = in_channels;
                OutChannels = out_channels;
                KernelSize = kernel_size;
                Stride = stride;
                Padding = padding;
                Dilation = dilation;
                Groups = groups;
                HasBias = bias;
                var w = register_parameter("weight", empty([out_channels, in_channels / groups, kernel_size, kernel_size]));
                // PyTorch's default initialisation: Kaiming-uniform with a = sqrt(5), bias U(±1/sqrt(fan_in)).
                Check(m2s_init_kaiming_uniform(w.Handle, Math.Sqrt(5)));
                if (bias)
                {
                    var bound = 1 / Math.Sqrt(in_channels / groups * kernel_size * kernel_size);
                    Check(m2s_init_uniform(register_parameter("bias", empty([out_channels])).Handle, -bound, bound));
                }
            }

            public long InChannels { get; }
            public long OutChannels { get; }
            public long KernelSize { get; }
            public long Stride { get; }
            public long Padding { get; }
            public long Dilation { get; }
            public long Groups { get; }
            public bool HasBias { get; }

            public Tensor weight => parameter("weight");
            public Tensor? bias => HasBias ? parameter("bias") : null;

            public override Tensor forward(Tensor input) =>
                functional.conv2d(input, weight, bias, (Stride, Stride), (Padding, Padding), (Dilation, Dilation), Groups);
        }

        /// <summary>
        /// Batch normalisation over channels: parameters "weight", "bias"; buffers "running_mean",
        /// "running_var", "num_batches_tracked". Training mode normalises with batch statistics and
        /// updates the running ones; eval mode uses the running ones.
        /// </summary>
        public sealed class BatchNorm2d : Module<Tensor, Tensor>
        {
            public BatchNorm2d(long num_features, double eps = 1e-5, double momentum = 0.1)
            {
                NumFeatures = num_features;
                Eps = eps;
                Momentum = momentum;
                register_parameter("weight", ones([num_features]));
                register_parameter("bias", zeros([num_features]));
                register_buffer("running_mean", zeros([num_features]));
                register_buffer("running_var", ones([num_features]));
                register_buffer("num_batches_tracked", zeros([], ScalarType.Int64));
            }

            public long NumFeatures { get; }
            public double Eps { get; }
            public double Momentum { get; }

            public Tensor weight => parameter("weight");
            public Tensor bias => parameter("bias");
            public Tensor running_mean => buffer("running_mean");
            public Tensor running_var => buffer("running_var");
            public Tensor num_batches_tracked => buffer("num_batches_tracked");

            public override Tensor forward(Tensor input)
            {
                if (training)
                {
                    using (no_grad()) num_batches_tracked.add_(1);
                }
                return functional.batch_norm(input, running_mean, running_var, weight, bias, training, Momentum, Eps);
            }
        }

        public sealed class ReLU : Module<Tensor, Tensor>
        {
            public override Tensor forward(Tensor input) => input.relu();
        }

        public sealed class MaxPool2d(long kernel_size, long? stride = null, long padding = 0, bool ceil_mode = false) : Module<Tensor, Tensor>
        {
            public long KernelSize { get; } = kernel_size;
            public long Stride { get; } = stride ?? kernel_size;
            public long Padding { get; } = padding;
            public bool CeilMode { get; } = ceil_mode;

            public override Tensor forward(Tensor input) =>
                functional.max_pool2d(input, (KernelSize, KernelSize), (Stride, Stride), (Padding, Padding), CeilMode);
        }

        public sealed class AvgPool2d(long kernel_size, long? stride = null, long padding = 0, bool ceil_mode = false, bool count_include_pad = true)
            : Module<Tensor, Tensor>
        {
            public long KernelSize { get; } = kernel_size;
            public long Stride { get; } = stride ?? kernel_size;
            public long Padding { get; } = padding;
            public bool CeilMode { get; } = ceil_mode;
            public bool CountIncludePad { get; } = count_include_pad;

            public override Tensor forward(Tensor input) =>
                functional.avg_pool2d(input, (KernelSize, KernelSize), (Stride, Stride), (Padding, Padding), CeilMode, CountIncludePad);
        }

        /// <summary>Fully connected layer: parameters "weight" [out, in], "bias" [out].</summary>
        public sealed class Linear : Module<Tensor, Tensor>
        {
            public Linear(long in_features, long out_features, bool bias = true)
            {
                var w = register_parameter("weight", empty([out_features, in_features]));
                Check(m2s_init_kaiming_uniform(w.Handle, Math.Sqrt(5)));
                if (bias)
                {
                    var bound = 1 / Math.Sqrt(in_features);
                    Check(m2s_init_uniform(register_parameter("bias", empty([out_features])).Handle, -bound, bound));
                }
                HasBias = bias;
            }

            public bool HasBias { get; }
            public Tensor weight => parameter("weight");
            public Tensor? bias => HasBias ? parameter("bias") : null;

            public override Tensor forward(Tensor input) => functional.linear(input, weight, bias);
        }

        /// <summary>Children "0", "1", ... applied in order.</summary>
        public sealed class Sequential : Module<Tensor, Tensor>
        {
            private readonly List<Module<Tensor, Tensor>> _layers = [];

            public Sequential(params Module<Tensor, Tensor>[] layers)
            {
                foreach (var layer in layers) Add(layer);
            }

            public IReadOnlyList<Module<Tensor, Tensor>> Layers => _layers;

            public Module<Tensor, Tensor> this[int index] => _layers[index];

            public void Add(Module<Tensor, Tensor> layer) =>
                _layers.Add(register_module(_layers.Count.ToString(System.Globalization.CultureInfo.InvariantCulture), layer));

            public override Tensor forward(Tensor input)
            {
                var x = input;
                foreach (var layer in _layers) x = layer.forward(x);
                return x;
            }
        }

        /// <summary>Children "0", "1", ... held for the parent to call (PyTorch's ModuleList).</summary>
        public sealed class ModuleList<T> : Module where T : Module
        {
            private readonly List<T> _items = [];

            public ModuleList(IEnumerable<T> items)
            {
                foreach (var item in items) _items.Add(register_module(_items.Count.ToString(System.Globalization.CultureInfo.InvariantCulture), item));
            }

            public int Count => _items.Count;

            public T this[int index] => _items[index];
        }

        /// <summary>Weight initialisation in place (torch.nn.init), outside autograd.</summary>
        public static class init
        {
            public static void kaiming_normal_(Tensor t, bool fan_out = true, double a = 0) =>
                Check(m2s_init_kaiming_normal(t.Handle, fan_out ? 1 : 0, a));

            public static void uniform_(Tensor t, double low, double high) => Check(m2s_init_uniform(t.Handle, low, high));

            public static void normal_(Tensor t, double mean, double std) => Check(m2s_init_normal(t.Handle, mean, std));

            public static void constant_(Tensor t, double value) => t.fill_(value);
        }
    }
}
