using M2SNet.Edge.Onnx.Format;
using DataType = M2SNet.Edge.Onnx.Format.TensorProto.Types.DataType;

namespace M2SNet.Edge.Quantization;

/// <summary>A node left in float, and why.</summary>
public sealed record FloatLayer(string Node, string OpType, string Reason);

/// <summary>
/// Where a float graph can run in 8 bits, in the form ONNX Runtime's QDQ transformers fuse into
/// integer kernels: QuantizeLinear → DequantizeLinear pairs on activations (uint8, per tensor),
/// DequantizeLinear on weights (int8, symmetric, per output channel) and on biases (int32 at the
/// input scale × the weight scale), so that DQ → Conv → Q becomes QLinearConv, DQ → Add → Q
/// QLinearAdd, DQ → Concat → Q QLinearConcat, DQ → AveragePool → Q QLinearAveragePool, and
/// MaxPool, Resize and Split run on the 8-bit values with the scale of their input. A Relu that
/// is its producer's only reader is left between the producer and the Q: the Q's zero point at
/// the bottom of the range makes it redundant, and ONNX Runtime drops it.
/// </summary>
internal sealed class QdqPlan
{
    private static readonly HashSet<string> s_passThrough = new(StringComparer.Ordinal) { "MaxPool", "Resize", "Split" };

    private readonly OnnxGraph _g;
    private readonly Dictionary<string, NodeProto> _candidates = new(StringComparer.Ordinal);
    private readonly Dictionary<string, NodeProto> _fusedRelu = new(StringComparer.Ordinal); // producer node name → its relu
    private readonly HashSet<string> _floatValues = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _head = new(StringComparer.Ordinal);

    public QdqPlan(OnnxGraph floatGraph)
    {
        _g = floatGraph;
        FindFloatValues();
        foreach (var node in _g.Graph.Node)
        {
            if (IsCandidate(node)) _candidates[node.Name] = node;
        }
        foreach (var node in _g.Graph.Node.Where(n => n.OpType == "Relu"))
        {
            var input = node.Input[0];
            if (_g.Producer.TryGetValue(input, out var p) && p.OpType is "Conv" or "Add" && _candidates.ContainsKey(p.Name)
                && _g.ConsumersOf(input).Count == 1 && !_g.Outputs.Contains(input))
            {
                _fusedRelu[p.Name] = node;
            }
        }
        FindHead();
    }

    /// <summary>Nodes that could run in 8 bits.</summary>
    public IReadOnlyCollection<NodeProto> Candidates => _candidates.Values;

    public int ConvCount => _candidates.Values.Count(n => n.OpType == "Conv");

    /// <summary>Every activation some choice of float layers may quantize: what calibration measures.</summary>
    public IReadOnlyCollection<string> CalibratedValues() => QuantizedValues(Int8Nodes(new HashSet<string>()));

    /// <summary>The value a node's 8-bit output is: its own, or its fused Relu's.</summary>
    public string EffectiveOutput(NodeProto node) => _fusedRelu.TryGetValue(node.Name, out var relu) ? relu.Output[0] : node.Output[0];

    /// <summary>Nodes that run in 8 bits when the values in <paramref name="floatValues"/> stay float.</summary>
    public HashSet<string> Int8Nodes(IReadOnlySet<string> floatValues)
    {
        var result = new HashSet<string>(StringComparer.Ordinal);
        foreach (var node in _candidates.Values)
        {
            if (_head.ContainsKey(node.Name)) continue;
            // Ops that only move or combine values run in 8 bits only where some input already is:
            // quantizing float maps (a box-filter sum, the |a - b| of a subtraction unit) just to
            // resize or add them costs more than it saves.
            if (node.OpType != "Conv" && !QuantizedInputs(node).Any(i => _g.Producer.TryGetValue(i, out var source) && result.Contains(ProducerOf(source).Name))) continue;
            if (QuantizedInputs(node).Any(floatValues.Contains)) continue;
            if (node.Output.Select((o, i) => node.OpType == "Split" ? o : EffectiveOutput(node)).Any(floatValues.Contains)) continue;
            result.Add(node.Name);
        }
        return result;
    }

    /// <summary>The node whose 8-bit output a value is: a fused Relu stands for its producer.</summary>
    private NodeProto ProducerOf(NodeProto node) =>
        node.OpType == "Relu" && _g.Producer.TryGetValue(node.Input[0], out var p) && _fusedRelu.TryGetValue(p.Name, out var relu) && relu == node ? p : node;

    /// <summary>Why each node that could be 8-bit is not, for the report.</summary>
    public List<FloatLayer> FloatLayers(IReadOnlySet<string> int8, IReadOnlyDictionary<string, string> valueReasons)
    {
        var layers = new List<FloatLayer>();
        foreach (var node in _g.Graph.Node.Where(n => n.OpType == "Conv" && !_candidates.ContainsKey(n.Name) && IsBroadcastConv(n)))
        {
            layers.Add(new FloatLayer(node.Name, node.OpType, "one input channel: a broadcast multiply-add, cheaper in float than quantized and dequantized"));
        }
        foreach (var node in _candidates.Values.Where(n => !int8.Contains(n.Name) && n.OpType == "Conv"))
        {
            var reason = _head.TryGetValue(node.Name, out var why) ? why
                : QuantizedInputs(node).Append(EffectiveOutput(node)).Select(v => valueReasons.GetValueOrDefault(v)).FirstOrDefault(r => r is not null)
                  ?? "its neighbours stay float";
            layers.Add(new FloatLayer(node.Name, node.OpType, reason));
        }
        return layers;
    }

    /// <summary>Activations that get a QuantizeLinear → DequantizeLinear pair.</summary>
    public HashSet<string> QuantizedValues(HashSet<string> int8)
    {
        var values = new HashSet<string>(StringComparer.Ordinal);
        foreach (var name in int8)
        {
            var node = _candidates[name];
            foreach (var v in QuantizedInputs(node)) values.Add(v);
            if (node.OpType == "Split") foreach (var o in node.Output) values.Add(o);
            else values.Add(EffectiveOutput(node));
        }
        values.RemoveWhere(v => _g.Outputs.Contains(v) || _g.IsConstant(v) || _floatValues.Contains(v) == false);
        return values;
    }

    /// <summary>
    /// The graph with the QDQ pairs, quantized weights and biases; <paramref name="ranges"/> holds
    /// every quantized activation that is not the output of a pass-through node.
    /// </summary>
    public byte[] Write(IReadOnlySet<string> floatValues, IReadOnlyDictionary<string, (float Low, float High)> ranges, out HashSet<string> int8Nodes)
    {
        var int8 = Int8Nodes(floatValues);
        int8Nodes = int8;
        var quantized = QuantizedValues(int8);
        var g = _g.Clone();
        var graph = g.Graph;
        var added = new List<NodeProto>();

        // Parameters, in graph order so a pass-through node's output takes its input's.
        var parameters = new Dictionary<string, (string Scale, string Zero, QuantParams Value)>(StringComparer.Ordinal);
        (string, string, QuantParams) Parameters(string value, QuantParams q)
        {
            var scale = g.FreshName(value + "_scale");
            var zero = g.FreshName(value + "_zero_point");
            graph.Initializer.Add(OnnxGraph.FloatTensor(scale, [q.Scale]));
            graph.Initializer.Add(OnnxGraph.Tensor(zero, DataType.Uint8, [q.ZeroPoint]));
            return (scale, zero, q);
        }
        if (quantized.Contains(graph.Input[0].Name))
        {
            parameters[graph.Input[0].Name] = Parameters(graph.Input[0].Name, QuantParamsFor(graph.Input[0].Name, ranges));
        }
        foreach (var node in _g.Graph.Node)
        {
            var outputs = node.OpType == "Split" ? node.Output.ToList() : [node.Output[0]];
            if (_fusedRelu.TryGetValue(node.Name, out var relu)) outputs = [relu.Output[0]];
            foreach (var o in outputs.Where(quantized.Contains))
            {
                if (parameters.ContainsKey(o)) continue;
                if (int8.Contains(node.Name) && s_passThrough.Contains(node.OpType) && parameters.TryGetValue(node.Input[0], out var input))
                {
                    parameters[o] = input;
                }
                else
                {
                    parameters[o] = Parameters(o, QuantParamsFor(o, ranges));
                }
            }
            foreach (var i in node.Input.Where(quantized.Contains))
            {
                if (!parameters.ContainsKey(i)) parameters[i] = Parameters(i, QuantParamsFor(i, ranges));
            }
        }

        // The pairs: every reader of a quantized value reads its DequantizeLinear.
        var renamed = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (value, (scale, zero, _)) in parameters)
        {
            var q = g.FreshName(value + "_quantized");
            var dq = g.FreshName(value + "_dequantized");
            added.Add(OnnxGraph.Node("QuantizeLinear", g.FreshName(value + "_Q"), [value, scale, zero], [q]));
            added.Add(OnnxGraph.Node("DequantizeLinear", g.FreshName(value + "_DQ"), [q, scale, zero], [dq]));
            renamed[value] = dq;
        }
        foreach (var node in graph.Node)
        {
            for (var i = 0; i < node.Input.Count; i++)
            {
                if (renamed.TryGetValue(node.Input[i], out var to)) node.Input[i] = to;
            }
        }

        // Weights once per initializer (shared weights stay shared); biases per Conv (they carry its input's scale).
        var weights = new Dictionary<string, (string Value, float[] Scales)>(StringComparer.Ordinal);
        var originals = _g.Graph.Node.ToDictionary(n => n.Name, StringComparer.Ordinal);
        foreach (var node in graph.Node.Where(n => n.OpType == "Conv" && int8.Contains(n.Name)).ToList())
        {
            var original = originals[node.Name];
            var weightName = original.Input[1];
            if (!weights.TryGetValue(weightName, out var w))
            {
                w = QuantizeWeight(g, _g.Initializers[weightName], added);
                weights[weightName] = w;
            }
            node.Input[1] = w.Value;
            if (node.Input.Count > 2 && node.Input[2].Length > 0)
            {
                var inputScale = parameters[original.Input[0]].Value.Scale;
                node.Input[2] = QuantizeBias(g, _g.Initializers[node.Input[2]], inputScale, w.Scales, added);
            }
        }
        graph.Node.AddRange(added);
        g.Reindex();
        foreach (var unused in graph.Initializer.Where(t => !g.Consumers.ContainsKey(t.Name)).ToList()) graph.Initializer.Remove(unused);
        g.SortTopologically();
        return g.ToBytes();
    }

    // ---- the pieces --------------------------------------------------------------------------

    private static QuantParams QuantParamsFor(string value, IReadOnlyDictionary<string, (float Low, float High)> ranges) =>
        ranges.TryGetValue(value, out var r) ? QuantParams.ForRange(r.Low, r.High)
            : throw new InvalidOperationException($"no calibrated range for '{value}'");

    /// <summary>int8, symmetric, one scale per output channel (axis 0): max |w| of the channel maps to 127.</summary>
    private static (string Value, float[] Scales) QuantizeWeight(OnnxGraph g, TensorProto weight, List<NodeProto> added)
    {
        var w = OnnxGraph.ReadFloats(weight);
        var dims = weight.Dims.ToArray();
        var channels = (int)dims[0];
        var per = w.Length / channels;
        var q = new sbyte[w.Length];
        var scales = new float[channels];
        for (var c = 0; c < channels; c++)
        {
            var max = 0f;
            for (var i = 0; i < per; i++) max = Math.Max(max, Math.Abs(w[c * per + i]));
            var s = max > 0 ? max / 127f : 1f;
            scales[c] = s;
            for (var i = 0; i < per; i++) q[c * per + i] = (sbyte)Math.Clamp(Math.Round(w[c * per + i] / s, MidpointRounding.ToEven), -127, 127);
        }
        var name = g.FreshName(weight.Name + "_int8");
        var scale = g.FreshName(weight.Name + "_scale");
        var zero = g.FreshName(weight.Name + "_zero_point");
        g.Graph.Initializer.Add(OnnxGraph.Tensor(name, DataType.Int8, System.Runtime.InteropServices.MemoryMarshal.AsBytes(q.AsSpan()), dims));
        g.Graph.Initializer.Add(OnnxGraph.FloatTensor(scale, scales, channels));
        g.Graph.Initializer.Add(OnnxGraph.Tensor(zero, DataType.Int8, new byte[channels], channels));
        var output = g.FreshName(weight.Name + "_dequantized");
        added.Add(OnnxGraph.Node("DequantizeLinear", g.FreshName(weight.Name + "_DQ"), [name, scale, zero], [output], OnnxGraph.IntAttribute("axis", 0)));
        return (output, scales);
    }

    /// <summary>int32 at scale input × weight (per channel), zero point 0: what QLinearConv adds to its accumulator.</summary>
    private static string QuantizeBias(OnnxGraph g, TensorProto bias, float inputScale, float[] weightScales, List<NodeProto> added)
    {
        var b = OnnxGraph.ReadFloats(bias);
        var q = new int[b.Length];
        var scales = new float[b.Length];
        for (var c = 0; c < b.Length; c++)
        {
            scales[c] = inputScale * weightScales[c];
            q[c] = (int)Math.Clamp(Math.Round(b[c] / (double)scales[c], MidpointRounding.ToEven), int.MinValue, int.MaxValue);
        }
        var name = g.FreshName(bias.Name + "_int32");
        var scale = g.FreshName(bias.Name + "_scale");
        g.Graph.Initializer.Add(OnnxGraph.Tensor(name, DataType.Int32, System.Runtime.InteropServices.MemoryMarshal.AsBytes(q.AsSpan()), b.Length));
        g.Graph.Initializer.Add(OnnxGraph.FloatTensor(scale, scales, b.Length));
        var output = g.FreshName(bias.Name + "_dequantized");
        added.Add(OnnxGraph.Node("DequantizeLinear", g.FreshName(bias.Name + "_DQ"), [name, scale], [output], OnnxGraph.IntAttribute("axis", 0)));
        return output;
    }

    private bool IsCandidate(NodeProto node)
    {
        bool Activation(string v) => v.Length > 0 && !_g.IsConstant(v) && _floatValues.Contains(v);
        return node.OpType switch
        {
            // A convolution from one channel (the box filter's mean spread to C channels) is a
            // broadcast multiply-add: cheaper in float than quantized, dequantized and subtracted.
            "Conv" => node.Input.Count >= 2 && Activation(node.Input[0]) && _g.Initializers.TryGetValue(node.Input[1], out var w)
                && w.DataType == (int)DataType.Float && (node.Input.Count < 3 || node.Input[2].Length == 0 || _g.IsConstant(node.Input[2]))
                && !IsBroadcastConv(node),
            "Add" => node.Input.Count == 2 && node.Input.All(Activation),
            "Concat" => node.Input.All(Activation),
            "MaxPool" => node.Output.Count == 1 && Activation(node.Input[0]),
            "Resize" or "Split" => Activation(node.Input[0]),
            _ => false,
        };
    }

    private bool IsBroadcastConv(NodeProto conv) =>
        _g.Initializers.TryGetValue(conv.Input[1], out var w) && w.Dims.Count == 4 && w.Dims[1] == 1
        && (conv.Attribute.FirstOrDefault(a => a.Name == "group")?.I ?? 1) == 1;

    private IEnumerable<string> QuantizedInputs(NodeProto node) => node.OpType switch
    {
        "Add" or "Concat" => node.Input,
        _ => [node.Input[0]],
    };

    /// <summary>Float activations: the graph's float inputs, float initializers and what float ops compute from them.</summary>
    private void FindFloatValues()
    {
        foreach (var i in _g.Graph.Input.Where(i => i.Type?.TensorType?.ElemType == (int)DataType.Float)) _floatValues.Add(i.Name);
        foreach (var t in _g.Graph.Initializer.Where(t => t.DataType == (int)DataType.Float)) _floatValues.Add(t.Name);
        foreach (var node in _g.Graph.Node)
        {
            var isFloat = node.OpType switch
            {
                "Shape" or "Size" or "NonZero" => false,
                "Cast" => node.Attribute.FirstOrDefault(a => a.Name == "to")?.I == (long)DataType.Float,
                _ => node.Input.Where(i => i.Length > 0).Take(1).All(_floatValues.Contains),
            };
            if (isFloat)
            {
                foreach (var o in node.Output) _floatValues.Add(o);
            }
        }
    }

    /// <summary>
    /// The layers that make the output, from each graph output back to the first convolution:
    /// the logits keep full precision (an 8-bit logit moves the decision boundary).
    /// </summary>
    private void FindHead()
    {
        foreach (var output in _g.Graph.Output)
        {
            var value = output.Name;
            while (_g.Producer.TryGetValue(value, out var node))
            {
                if (_candidates.ContainsKey(node.Name)) _head[node.Name] = "makes the output: the logits keep full precision";
                if (node.OpType == "Conv") break;
                if (node.OpType is not ("Identity" or "Sigmoid" or "Resize" or "MaxPool" or "AveragePool")) break;
                value = node.Input[0];
            }
        }
    }
}
