using M2SNet.Edge.Onnx;

namespace M2SNet.Edge.OnnxRuntime.Tests;

/// <summary>Small ONNX models built by the tests, each with a C# computation of what it should output.</summary>
internal static class TestModels
{
    public static readonly float[] AffineScale = [0.5f, -2f, 3f, 1.25f];
    public static readonly float[] AffineBias = [1f, 0f, -1f, 10f];

    /// <summary>y = x * scale + bias over [batch, 4], batch symbolic.</summary>
    public static byte[] Affine()
    {
        var g = new OnnxGraphBuilder("affine");
        var x = g.Input("x", TensorElementKind.Float, "batch", 4);
        var scaled = g.Node("Mul", [x, g.Initializer("scale", AffineScale, 4)]);
        var y = g.Node("Add", [scaled, g.Initializer("bias", AffineBias, 4)], "y");
        g.Output(y, TensorElementKind.Float, "batch", 4);
        return g.ToBytes();
    }

    public static float[] AffineExpected(float[] x)
    {
        var y = new float[x.Length];
        for (var i = 0; i < x.Length; i++) y[i] = x[i] * AffineScale[i % 4] + AffineBias[i % 4];
        return y;
    }

    /// <summary>Two inputs, two outputs: sum = a + b, product = a * b, both [2, 3].</summary>
    public static byte[] SumAndProduct()
    {
        var g = new OnnxGraphBuilder("sum_and_product");
        var a = g.Input("a", TensorElementKind.Float, 2, 3);
        var b = g.Input("b", TensorElementKind.Float, 2, 3);
        g.Output(g.Node("Add", [a, b], "sum"), TensorElementKind.Float, 2, 3);
        g.Output(g.Node("Mul", [a, b], "product"), TensorElementKind.Float, 2, 3);
        return g.ToBytes();
    }

    /// <summary>A 3x3 convolution, padding 1, stride 1, with bias, over [1, cin, h, w].</summary>
    public static byte[] Conv3x3(float[] weight, float[] bias, int cin, int cout, int h, int w)
    {
        var g = new OnnxGraphBuilder("conv3x3");
        var x = g.Input("x", TensorElementKind.Float, 1, cin, h, w);
        var y = g.Node("Conv", [x, g.Initializer("w", weight, cout, cin, 3, 3), g.Initializer("b", bias, cout)], "y",
            Attr.Ints("kernel_shape", 3, 3), Attr.Ints("pads", 1, 1, 1, 1));
        g.Output(y, TensorElementKind.Float, 1, cout, h, w);
        return g.ToBytes();
    }

    /// <summary>Direct convolution, the textbook loop: the independent reference for <see cref="Conv3x3"/>.</summary>
    public static float[] Conv3x3Expected(float[] x, float[] weight, float[] bias, int cin, int cout, int h, int w)
    {
        var y = new float[cout * h * w];
        for (var o = 0; o < cout; o++)
        for (var r = 0; r < h; r++)
        for (var c = 0; c < w; c++)
        {
            double acc = bias[o];
            for (var i = 0; i < cin; i++)
            for (var kr = 0; kr < 3; kr++)
            for (var kc = 0; kc < 3; kc++)
            {
                int rr = r + kr - 1, cc = c + kc - 1;
                if (rr < 0 || rr >= h || cc < 0 || cc >= w) continue;
                acc += x[(i * h + rr) * w + cc] * weight[((o * cin + i) * 3 + kr) * 3 + kc];
            }
            y[(o * h + r) * w + c] = (float)acc;
        }
        return y;
    }

    /// <summary>Identity over [n] with a custom metadata entry.</summary>
    public static byte[] WithMetadata(string key, string value)
    {
        var g = new OnnxGraphBuilder("with_metadata");
        var x = g.Input("x", TensorElementKind.Float, 3);
        g.Output(g.Node("Identity", [x], "y"), TensorElementKind.Float, 3);
        return Google.Protobuf.MessageExtensions.ToByteArray(g.Build("test", new Dictionary<string, string> { [key] = value }));
    }

    public static float[] Random(int n, int seed)
    {
        var rng = new Random(seed);
        var v = new float[n];
        for (var i = 0; i < n; i++) v[i] = (float)(rng.NextDouble() * 2 - 1);
        return v;
    }
}
