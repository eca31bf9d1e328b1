using static M2SNet.Edge.Torch.Native.LibTorch;

namespace M2SNet.Edge.Torch;

public static partial class torch
{
    public static partial class nn
    {
        /// <summary>How a loss is reduced over its elements (at::Reduction).</summary>
        public enum Reduction
        {
            None = 0,
            Mean = 1,
            Sum = 2,
        }

        /// <summary>The functional forms of the layers and losses (torch.nn.functional).</summary>
        public static unsafe class functional
        {
            public static Tensor conv2d(Tensor input, Tensor weight, Tensor? bias = null,
                (long, long)? stride = null, (long, long)? padding = null, (long, long)? dilation = null, long groups = 1)
            {
                var s = stride ?? (1, 1);
                var p = padding ?? (0, 0);
                var d = dilation ?? (1, 1);
                long* sv = stackalloc long[] { s.Item1, s.Item2 };
                long* pv = stackalloc long[] { p.Item1, p.Item2 };
                long* dv = stackalloc long[] { d.Item1, d.Item2 };
                return new Tensor(m2s_conv2d(input.Handle, weight.Handle, bias?.Handle ?? 0, sv, pv, dv, groups));
            }

            public static Tensor batch_norm(Tensor input, Tensor? running_mean, Tensor? running_var, Tensor? weight, Tensor? bias,
                bool training, double momentum = 0.1, double eps = 1e-5) =>
                new(m2s_batch_norm(input.Handle, weight?.Handle ?? 0, bias?.Handle ?? 0, running_mean?.Handle ?? 0,
                    running_var?.Handle ?? 0, training ? 1 : 0, momentum, eps));

            public static Tensor relu(Tensor input) => input.relu();

            public static Tensor sigmoid(Tensor input) => input.sigmoid();

            public static Tensor max_pool2d(Tensor input, (long, long) kernel, (long, long)? stride = null,
                (long, long)? padding = null, bool ceil_mode = false)
            {
                var s = stride ?? kernel;
                var p = padding ?? (0, 0);
                long* kv = stackalloc long[] { kernel.Item1, kernel.Item2 };
                long* sv = stackalloc long[] { s.Item1, s.Item2 };
                long* pv = stackalloc long[] { p.Item1, p.Item2 };
                long* dv = stackalloc long[] { 1, 1 };
                return new Tensor(m2s_max_pool2d(input.Handle, kv, sv, pv, dv, ceil_mode ? 1 : 0));
            }

            public static Tensor avg_pool2d(Tensor input, (long, long) kernel, (long, long)? stride = null,
                (long, long)? padding = null, bool ceil_mode = false, bool count_include_pad = true)
            {
                var s = stride ?? kernel;
                var p = padding ?? (0, 0);
                long* kv = stackalloc long[] { kernel.Item1, kernel.Item2 };
                long* sv = stackalloc long[] { s.Item1, s.Item2 };
                long* pv = stackalloc long[] { p.Item1, p.Item2 };
                return new Tensor(m2s_avg_pool2d(input.Handle, kv, sv, pv, ceil_mode ? 1 : 0, count_include_pad ? 1 : 0));
            }

            /// <summary>Bilinear resize to (height, width) — F.interpolate(mode="bilinear").</summary>
            public static Tensor interpolate_bilinear(Tensor input, long height, long width, bool align_corners = false) =>
                new(m2s_upsample_bilinear2d(input.Handle, height, width, align_corners ? 1 : 0));

            public static Tensor linear(Tensor input, Tensor weight, Tensor? bias = null) =>
                new(m2s_linear(input.Handle, weight.Handle, bias?.Handle ?? 0));

            /// <summary>max(x,0) − x·t + log(1 + e^−|x|), optionally weighted per element.</summary>
            public static Tensor binary_cross_entropy_with_logits(Tensor input, Tensor target, Tensor? weight = null,
                Reduction reduction = Reduction.Mean) =>
                new(m2s_bce_with_logits(input.Handle, target.Handle, weight?.Handle ?? 0, (int)reduction));

            public static Tensor mse_loss(Tensor input, Tensor target, Reduction reduction = Reduction.Mean) =>
                new(m2s_mse_loss(input.Handle, target.Handle, (int)reduction));
        }
    }
}
