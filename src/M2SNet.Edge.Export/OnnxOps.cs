using System.Security.Cryptography;
using M2SNet.Edge.Models;
using M2SNet.Edge.Onnx;
using static M2SNet.Edge.Torch.torch;

namespace M2SNet.Edge.Export;

/// <summary>How the exporter writes the fixed all-ones convolutions.</summary>
public enum GraphForm
{
    /// <summary>
    /// Channel sum (shared between the 3×3 and 5×5 filters of the same tensor, and taken before an
    /// upsample where the two commute), a 1-channel box filter (AveragePool), then the ×k² and the
    /// batch norm folded into one 1×1 convolution back to C channels.
    /// </summary>
    Optimised,

    /// <summary>
    /// The authors' graph: plain Conv nodes with all-ones C×C×k×k weights, every resize written
    /// (also those to the same size) and no tensor shared between units. For comparison.
    /// </summary>
    Naive,
}

/// <summary>
/// The ONNX backend of <see cref="IOps{T}"/>: each operation of a network's forward pass adds
/// nodes to the graph, so the exported graph is the network's own forward. Values are graph value
/// names. Batch norms are folded into the convolution before them; identity resizes (between two
/// levels of the same resolution) are dropped.
/// </summary>
internal sealed class OnnxOps : IOps<string>
{
    private readonly OnnxGraphBuilder _g;
    private readonly GraphForm _form;
    private readonly IReadOnlyDictionary<nn.Module, string> _names;
    private readonly Dictionary<string, ValueInfo> _info = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _uses = new(StringComparer.Ordinal);
    private readonly Dictionary<string, PendingConv> _convs = new(StringComparer.Ordinal);
    private readonly Dictionary<string, BoxFilter> _boxFilters = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _channelSums = new(StringComparer.Ordinal);
    private readonly Dictionary<(string Sum, int Kernel), string> _boxMeans = new();
    private readonly Dictionary<string, (string Source, string Like)> _resized = new(StringComparer.Ordinal);
    private readonly Dictionary<(string Value, int Start, int End), string> _shapes = new();
    private readonly List<FloatInitializer> _floats = [];

    /// <param name="names">State-dict paths of the network's modules, to name initializers after them.</param>
    public OnnxOps(OnnxGraphBuilder graph, GraphForm form, IReadOnlyDictionary<nn.Module, string> names)
    {
        _g = graph;
        _form = form;
        _names = names;
    }

    /// <summary>Declares a graph input of known channels at full resolution.</summary>
    public string Input(string name, long channels)
    {
        _info[name] = new ValueInfo(channels, 1);
        return name;
    }

    public long ChannelsOf(string value) => _info[value].Channels;

    // ---- IOps -----------------------------------------------------------------------------

    public string Apply(nn.Module<Tensor, Tensor> layer, string x) => layer switch
    {
        nn.Sequential s => s.Layers.Aggregate(x, (v, l) => Apply(l, v)),
        nn.Conv2d c => Conv(c, x),
        nn.BatchNorm2d bn => BatchNorm(bn, x),
        nn.ReLU => Relu(x),
        nn.MaxPool2d p => Emit("MaxPool", [x], Same(x, scale: p.Stride),
            Attr.Ints("kernel_shape", p.KernelSize, p.KernelSize), Attr.Ints("strides", p.Stride, p.Stride),
            Attr.Ints("pads", p.Padding, p.Padding, p.Padding, p.Padding), Attr.Int("ceil_mode", p.CeilMode ? 1 : 0)),
        nn.AvgPool2d p when p.KernelSize == 1 && p.Stride == 1 && p.Padding == 0 => x, // the v1b shortcut's stride-1 pool is the identity
        nn.AvgPool2d p when _form == GraphForm.Optimised && (p.CountIncludePad || (p.Padding == 0 && p.KernelSize == p.Stride)) => MeanConv(x, p),
        nn.AvgPool2d p => Emit("AveragePool", [x], Same(x, scale: p.Stride),
                Attr.Ints("kernel_shape", p.KernelSize, p.KernelSize), Attr.Ints("strides", p.Stride, p.Stride),
                Attr.Ints("pads", p.Padding, p.Padding, p.Padding, p.Padding), Attr.Int("ceil_mode", p.CeilMode ? 1 : 0),
                Attr.Int("count_include_pad", p.CountIncludePad ? 1 : 0)),
        _ => throw new NotSupportedException($"the ONNX exporter has no rule for {layer.GetType().Name}"),
    };

    public string Relu(string x) => Emit("Relu", [x], Same(x));

    public string Add(string a, string b) => Emit("Add", [a, b], Same(a));

    public string Sub(string a, string b) => Emit("Sub", [a, b], Same(a));

    public string Abs(string x) => Emit("Abs", [x], Same(x));

    public string Sigmoid(string x) => Emit("Sigmoid", [x], Same(x));

    public string ResizeLike(string x, string like)
    {
        var target = _info[like];
        // Two values at the same level of the pyramid have the same size for every input size
        // (they come from the same stride), and a half-pixel resize to the same size is the identity.
        if (_form == GraphForm.Optimised && _info[x].Scale == target.Scale) return x;
        string y;
        if (_form == GraphForm.Optimised && _info[x].Scale % target.Scale == 0)
        {
            // Inputs are multiples of 32, so every level is an exact division of the input and an
            // upsample to the next level is by an exact integer factor: a constant scale, which
            // lets ONNX Runtime plan the resize at load time.
            var factor = _info[x].Scale / target.Scale;
            var scales = _g.Initializer(_g.UniqueName($"scales_x{factor}"), new float[] { 1, 1, factor, factor }, 4);
            y = Emit("Resize", [x, "", scales], new ValueInfo(_info[x].Channels, target.Scale),
                Attr.String("mode", "linear"), Attr.String("coordinate_transformation_mode", "half_pixel"));
        }
        else
        {
            var sizes = _g.Node("Concat", [Shape(x, 0, 2), Shape(like, 2, 4)], null, Attr.Int("axis", 0));
            y = Emit("Resize", [x, "", "", sizes], new ValueInfo(_info[x].Channels, target.Scale),
                Attr.String("mode", "linear"), Attr.String("coordinate_transformation_mode", "half_pixel"));
        }
        _resized[y] = (x, like);
        return y;
    }

    public string CatChannels(IReadOnlyList<string> xs) =>
        Emit("Concat", xs, new ValueInfo(xs.Sum(x => _info[x].Channels), _info[xs[0]].Scale), Attr.Int("axis", 1));

    public IReadOnlyList<string> SplitChannels(string x, int width)
    {
        var channels = _info[x].Channels;
        if (channels % width != 0) throw new InvalidOperationException($"{channels} channels do not split into groups of {width}");
        var n = (int)(channels / width);
        var split = _g.Int64s(_g.UniqueName("split"), Enumerable.Repeat((long)width, n).ToArray());
        var outputs = Enumerable.Range(0, n).Select(_ => _g.UniqueName("split_out")).ToArray();
        Use(x);
        _g.NodeWithOutputs("Split", [x, split], outputs, Attr.Int("axis", 1));
        foreach (var o in outputs) _info[o] = new ValueInfo(width, _info[x].Scale);
        return outputs;
    }

    public string OnesConv(string x, int kernel)
    {
        var channels = _info[x].Channels;
        var pad = (kernel - 1) / 2;
        if (_form == GraphForm.Naive)
        {
            var ones = new float[channels * channels * kernel * kernel];
            Array.Fill(ones, 1f);
            return EmitConv(x, $"ones_conv{kernel}", ones, new float[channels], channels, channels, kernel, 1, pad, 1);
        }
        var mean = BoxMean(ChannelSum(x), kernel);
        var lazy = _g.UniqueName($"box{kernel}");
        _boxFilters[lazy] = new BoxFilter(mean, kernel, channels);
        _info[lazy] = new ValueInfo(channels, _info[x].Scale);
        return lazy;
    }

    // ---- finishing ---------------------------------------------------------------------------

    /// <summary>Writes every initializer (identical tensors once, in the optimised form); as float16 with a Cast when asked.</summary>
    public void Finish(bool float16Weights)
    {
        var share = _form == GraphForm.Optimised;
        foreach (var (output, conv) in _convs)
        {
            AddFloat(conv.WeightName, conv.Weight, [conv.OutChannels, conv.InChannels, conv.Kernel, conv.Kernel]);
            AddFloat(conv.BiasName, conv.Bias, [conv.OutChannels]);
        }
        var byContent = new Dictionary<string, string>(StringComparer.Ordinal);
        var rename = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var f in _floats)
        {
            var key = string.Join(",", f.Dims) + ":" + Convert.ToHexString(SHA256.HashData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(f.Data.AsSpan())));
            if (share && byContent.TryGetValue(key, out var existing))
            {
                rename[f.Name] = existing;
                continue;
            }
            byContent[key] = f.Name;
            if (float16Weights && f.Data.Length > 1)
            {
                var half = new Half[f.Data.Length];
                for (var i = 0; i < half.Length; i++) half[i] = (Half)f.Data[i];
                var stored = _g.Initializer(f.Name + "_fp16", half.AsSpan(), f.Dims);
                _g.Node("Cast", [stored], f.Name, Attr.Int("to", (long)TensorElementKind.Float));
            }
            else
            {
                _g.Initializer(f.Name, f.Data.AsSpan(), f.Dims);
            }
        }
        if (rename.Count > 0) _g.RenameInputs(rename);
    }

    // ---- layers ----------------------------------------------------------------------------

    private string Conv(nn.Conv2d conv, string x)
    {
        var weight = conv.weight.data<float>();
        var bias = conv.bias?.data<float>() ?? new float[conv.OutChannels];
        return EmitConv(x, _names.GetValueOrDefault(conv) ?? "conv", weight, bias, conv.InChannels / conv.Groups, conv.OutChannels,
            conv.KernelSize, conv.Stride, conv.Padding, conv.Groups, conv.Dilation);
    }

    private string EmitConv(string x, string name, float[] weight, float[] bias, long inChannels, long outChannels,
        long kernel, long stride, long padding, long groups, long dilation = 1)
    {
        var w = _g.UniqueName(name + ".weight");
        var b = _g.UniqueName(name + ".bias");
        var y = Emit("Conv", [x, w, b], new ValueInfo(outChannels, _info[x].Scale * (int)stride),
            Attr.Ints("kernel_shape", kernel, kernel), Attr.Ints("strides", stride, stride),
            Attr.Ints("pads", padding, padding, padding, padding), Attr.Ints("dilations", dilation, dilation), Attr.Int("group", groups));
        _convs[y] = new PendingConv(w, b, weight, bias, outChannels, inChannels, kernel);
        return y;
    }

    /// <summary>
    /// A window mean as a depthwise convolution with weights 1/k²: the same values where every
    /// window is whole or its padding counts (the v1b shortcut's pool has kernel = stride on maps
    /// that are multiples of it, as inputs are multiples of 32), and one op ONNX Runtime runs well
    /// in float and in int8 (its QLinearAveragePool is a slow generic kernel).
    /// </summary>
    private string MeanConv(string x, nn.AvgPool2d p)
    {
        var channels = _info[x].Channels;
        var k = p.KernelSize;
        var weight = new float[channels * k * k];
        Array.Fill(weight, 1f / (k * k));
        return EmitConv(x, _names.GetValueOrDefault(p) ?? "pool", weight, new float[channels], 1, channels, k, p.Stride, p.Padding, channels);
    }

    /// <summary>Batch norm in eval mode: y = (x − mean)·γ/√(var + ε) + β, folded into whatever linear map precedes it.</summary>
    private string BatchNorm(nn.BatchNorm2d bn, string x)
    {
        var gamma = bn.weight.data<float>();
        var beta = bn.bias.data<float>();
        var mean = bn.running_mean.data<float>();
        var variance = bn.running_var.data<float>();
        var scale = new double[gamma.Length];
        var shift = new double[gamma.Length];
        for (var c = 0; c < gamma.Length; c++)
        {
            scale[c] = gamma[c] / Math.Sqrt(variance[c] + bn.Eps);
            shift[c] = beta[c] - mean[c] * scale[c];
        }

        if (_convs.TryGetValue(x, out var conv) && _uses.GetValueOrDefault(x) == 0)
        {
            // W' = W·s per output channel, b' = b·s + t.
            var perOut = conv.Weight.Length / conv.OutChannels;
            for (var o = 0; o < conv.OutChannels; o++)
            {
                for (var i = 0; i < perOut; i++) conv.Weight[o * perOut + i] = (float)(conv.Weight[o * perOut + i] * scale[o]);
                conv.Bias[o] = (float)(conv.Bias[o] * scale[o] + shift[o]);
            }
            return x;
        }
        if (_boxFilters.Remove(x, out var box))
        {
            // The box filter gave the window mean of the channel sum; ×k² restores the window sum,
            // and the batch norm's per-channel scale and shift make it C channels: one 1×1 conv.
            var k2 = box.Kernel * box.Kernel;
            var w = scale.Select(s => (float)(s * k2)).ToArray();
            var b = shift.Select(t => (float)t).ToArray();
            return EmitConv(box.Mean, _names.GetValueOrDefault(bn) ?? "norm", w, b, 1, box.Channels, 1, 1, 0, 1);
        }
        var name = _names.GetValueOrDefault(bn) ?? "bn";
        var sc = AddFloat(_g.UniqueName(name + ".scale"), scale.Select(v => (float)v).ToArray(), [1, gamma.Length, 1, 1]);
        var sh = AddFloat(_g.UniqueName(name + ".shift"), shift.Select(v => (float)v).ToArray(), [1, gamma.Length, 1, 1]);
        return Emit("Add", [Emit("Mul", [x, sc], Same(x)), sh], Same(x));
    }

    // ---- the box filter's pieces -----------------------------------------------------------

    private string ChannelSum(string x)
    {
        if (_channelSums.TryGetValue(x, out var memo)) return memo;
        string sum;
        if (_resized.TryGetValue(x, out var r))
        {
            // Σ_c commutes with a per-channel linear resize: sum the small map, resize one channel.
            sum = ResizeLike(ChannelSum(r.Source), r.Like);
        }
        else
        {
            var axes = _g.Int64s(_g.UniqueName("axes_c"), 1);
            sum = Emit("ReduceSum", [x, axes], new ValueInfo(1, _info[x].Scale), Attr.Int("keepdims", 1));
        }
        return _channelSums[x] = sum;
    }

    private string BoxMean(string sum, int kernel)
    {
        if (_boxMeans.TryGetValue((sum, kernel), out var memo)) return memo;
        var pad = (kernel - 1) / 2;
        var mean = Emit("AveragePool", [sum], Same(sum),
            Attr.Ints("kernel_shape", kernel, kernel), Attr.Ints("strides", 1, 1), Attr.Ints("pads", pad, pad, pad, pad),
            Attr.Int("count_include_pad", 1));
        return _boxMeans[(sum, kernel)] = mean;
    }

    // ---- plumbing -------------------------------------------------------------------------------

    private string Emit(string op, IReadOnlyList<string> inputs, ValueInfo info, params Attr[] attributes)
    {
        foreach (var i in inputs)
        {
            if (i.Length > 0) Use(i);
        }
        var y = _g.Node(op, inputs, null, attributes);
        _info[y] = info;
        return y;
    }

    private void Use(string x)
    {
        if (_boxFilters.ContainsKey(x)) throw new NotSupportedException("a fixed box filter's output must go to a batch norm");
        _uses[x] = _uses.GetValueOrDefault(x) + 1;
    }

    private ValueInfo Same(string x, long scale = 1) => _info[x] with { Scale = _info[x].Scale * (int)scale };

    private string Shape(string x, int start, int end)
    {
        if (_shapes.TryGetValue((x, start, end), out var memo)) return memo;
        return _shapes[(x, start, end)] = _g.Node("Shape", [x], null, Attr.Int("start", start), Attr.Int("end", end));
    }

    private string AddFloat(string name, float[] data, long[] dims)
    {
        _floats.Add(new FloatInitializer(name, data, dims));
        return name;
    }

    private sealed record ValueInfo(long Channels, int Scale);

    private sealed record PendingConv(string WeightName, string BiasName, float[] Weight, float[] Bias, long OutChannels, long InChannels, long Kernel);

    private sealed record BoxFilter(string Mean, int Kernel, long Channels);

    private sealed record FloatInitializer(string Name, float[] Data, long[] Dims);
}
