namespace M2SNet.Edge.Onnx;

/// <summary>
/// Small models with seeded random weights, for runtime checks and benchmarks where the numbers
/// do not matter but the work does: a ResNet-like segmentation network and a no-op of the same
/// input, whose run time is the binding's own overhead.
/// </summary>
public static class SampleModels
{
    /// <summary>
    /// A ResNet-like network: a strided 3x3 stem, <paramref name="blocks"/> residual blocks per
    /// stage over three stages (width, 2·width, 4·width, each halving the resolution), a 1x1 head
    /// and a bilinear resize back to the input size. Input "image" [batch, 3, size, size], output
    /// "logits" [batch, 1, size, size].
    /// </summary>
    public static byte[] ResNetLike(int size = 352, int width = 32, int blocks = 2, int seed = 1)
    {
        var rng = new Random(seed);
        var g = new OnnxGraphBuilder("resnet_like");
        var x = g.Input("image", TensorElementKind.Float, "batch", 3, size, size);
        var h = ConvRelu(g, rng, x, 3, width, stride: 2);
        var channels = width;
        for (var stage = 0; stage < 3; stage++)
        {
            var outChannels = width << stage;
            if (stage > 0)
            {
                h = ConvRelu(g, rng, h, channels, outChannels, stride: 2);
                channels = outChannels;
            }
            for (var b = 0; b < blocks; b++)
            {
                var r = ConvRelu(g, rng, h, channels, channels, stride: 1);
                r = Conv(g, rng, r, channels, channels, kernel: 3, stride: 1);
                h = g.Node("Relu", [g.Node("Add", [h, r])]);
            }
        }
        var head = Conv(g, rng, h, channels, 1, kernel: 1, stride: 1);
        var shape = g.Node("Shape", [x]);
        var hw = g.Node("Slice", [shape, g.Int64s("hw_start", 2), g.Int64s("hw_end", 4)]);
        var nc = g.Node("Slice", [g.Node("Shape", [head]), g.Int64s("nc_start", 0), g.Int64s("nc_end", 2)]);
        var sizes = g.Node("Concat", [nc, hw], null, Attr.Int("axis", 0));
        var logits = g.Node("Resize", [head, "", "", sizes], "logits",
            Attr.String("mode", "linear"), Attr.String("coordinate_transformation_mode", "half_pixel"));
        g.Output(logits, TensorElementKind.Float, "batch", 1, size, size);
        return g.ToBytes();
    }

    /// <summary>
    /// A model that takes the same input and does no work on its data (it outputs the input's
    /// shape, int64[rank]): what a run costs beyond the network itself.
    /// </summary>
    public static byte[] NoOp(params Dim[] shape)
    {
        var g = new OnnxGraphBuilder("noop");
        var x = g.Input("image", TensorElementKind.Float, shape);
        g.Output(g.Node("Shape", [x], "shape"), TensorElementKind.Int64, shape.Length);
        return g.ToBytes();
    }

    private static string ConvRelu(OnnxGraphBuilder g, Random rng, string x, int cin, int cout, int stride) =>
        g.Node("Relu", [Conv(g, rng, x, cin, cout, 3, stride)]);

    private static string Conv(OnnxGraphBuilder g, Random rng, string x, int cin, int cout, int kernel, int stride)
    {
        // He-style scaling keeps activations in range through the residual stack.
        var fanIn = cin * kernel * kernel;
        var scale = MathF.Sqrt(2f / fanIn);
        var w = new float[cout * fanIn];
        for (var i = 0; i < w.Length; i++) w[i] = (float)(rng.NextDouble() * 2 - 1) * scale;
        var name = g.UniqueName("conv");
        var weight = g.Initializer(name + ".weight", w, cout, cin, kernel, kernel);
        var bias = g.Initializer(name + ".bias", new float[cout], cout);
        var pad = kernel / 2;
        return g.Node("Conv", [x, weight, bias], null,
            Attr.Ints("kernel_shape", kernel, kernel), Attr.Ints("strides", stride, stride), Attr.Ints("pads", pad, pad, pad, pad));
    }
}
