using System.Runtime.InteropServices;
using Google.Protobuf;
using M2SNet.Edge.Onnx;
using M2SNet.Edge.Onnx.Format;

namespace M2SNet.Edge.Quantization;

/// <summary>
/// A loaded ONNX model with the lookups a graph rewrite needs: initializers by name, the node
/// that produces each value and the nodes that read it.
/// </summary>
internal sealed class OnnxGraph
{
    private readonly HashSet<string> _names = new(StringComparer.Ordinal);
    private int _counter;

    private OnnxGraph(ModelProto model)
    {
        Model = model;
        Reindex();
    }

    public ModelProto Model { get; }

    public GraphProto Graph => Model.Graph;

    public Dictionary<string, TensorProto> Initializers { get; } = new(StringComparer.Ordinal);

    public Dictionary<string, NodeProto> Producer { get; } = new(StringComparer.Ordinal);

    public Dictionary<string, List<NodeProto>> Consumers { get; } = new(StringComparer.Ordinal);

    public HashSet<string> Outputs { get; } = new(StringComparer.Ordinal);

    public int Opset => (int)(Model.OpsetImport.FirstOrDefault(o => o.Domain.Length == 0)?.Version ?? 0);

    public static OnnxGraph Parse(byte[] bytes)
    {
        ModelProto model;
        try
        {
            model = ModelProto.Parser.ParseFrom(bytes);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new InvalidDataException($"not an ONNX model: {e.Message}", e);
        }
        if (model.Graph is null || model.Graph.Node.Count == 0) throw new InvalidDataException("the ONNX model has no graph");
        var graph = new OnnxGraph(model);
        graph.NameNodes();
        return graph;
    }

    /// <summary>Every node a name of its own (ONNX allows none, or repeats): rewrites address nodes by name.</summary>
    private void NameNodes()
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var node in Graph.Node)
        {
            if (node.Name.Length == 0 || !seen.Add(node.Name))
            {
                node.Name = FreshName(node.OpType + "_node");
                seen.Add(node.Name);
            }
        }
    }

    public OnnxGraph Clone() => new(Model.Clone());

    public byte[] ToBytes() => Model.ToByteArray();

    public void Reindex()
    {
        Initializers.Clear();
        Producer.Clear();
        Consumers.Clear();
        Outputs.Clear();
        _names.Clear();
        foreach (var t in Graph.Initializer)
        {
            Initializers[t.Name] = t;
            _names.Add(t.Name);
        }
        foreach (var i in Graph.Input) _names.Add(i.Name);
        foreach (var node in Graph.Node)
        {
            _names.Add(node.Name);
            foreach (var o in node.Output)
            {
                Producer[o] = node;
                _names.Add(o);
            }
            foreach (var i in node.Input.Where(i => i.Length > 0))
            {
                if (!Consumers.TryGetValue(i, out var list)) Consumers[i] = list = [];
                if (!list.Contains(node)) list.Add(node);
            }
        }
        foreach (var o in Graph.Output) Outputs.Add(o.Name);
    }

    public IReadOnlyList<NodeProto> ConsumersOf(string value) => Consumers.TryGetValue(value, out var list) ? list : [];

    public bool IsConstant(string value) => Initializers.ContainsKey(value);

    /// <summary>A name no value or node of the graph has.</summary>
    public string FreshName(string stem)
    {
        var name = stem;
        while (!_names.Add(name)) name = $"{stem}_{++_counter}";
        return name;
    }

    /// <summary>
    /// Float16 weights stored with a Cast to float (our <c>--fp16-weights</c> export) become float
    /// initializers again: a rewrite sees every weight as the constant the Conv reads.
    /// </summary>
    public int FoldWeightCasts()
    {
        var folded = 0;
        foreach (var node in Graph.Node.ToList())
        {
            if (node.OpType != "Cast" || node.Input.Count != 1 || !Initializers.TryGetValue(node.Input[0], out var half)) continue;
            if (half.DataType != (int)TensorProto.Types.DataType.Float16) continue;
            var to = node.Attribute.FirstOrDefault(a => a.Name == "to")?.I;
            if (to != (long)TensorProto.Types.DataType.Float) continue;
            var values = ReadFloats(half);
            Graph.Initializer.Add(FloatTensor(node.Output[0], values, half.Dims.ToArray()));
            Graph.Node.Remove(node);
            folded++;
        }
        Reindex();
        foreach (var unused in Graph.Initializer.Where(t => !Consumers.ContainsKey(t.Name) && !Outputs.Contains(t.Name)).ToList())
        {
            Graph.Initializer.Remove(unused);
        }
        Reindex();
        return folded;
    }

    /// <summary>The values of a float or float16 initializer as float.</summary>
    public static float[] ReadFloats(TensorProto t)
    {
        switch ((TensorProto.Types.DataType)t.DataType)
        {
            case TensorProto.Types.DataType.Float:
                return t.RawData.Length > 0 ? MemoryMarshal.Cast<byte, float>(t.RawData.Span).ToArray() : t.FloatData.ToArray();
            case TensorProto.Types.DataType.Float16:
                if (t.RawData.Length > 0) return MemoryMarshal.Cast<byte, Half>(t.RawData.Span).ToArray().Select(h => (float)h).ToArray();
                // Without raw data, float16 values are stored as the low 16 bits of int32_data.
                return t.Int32Data.Select(bits => (float)BitConverter.UInt16BitsToHalf((ushort)bits)).ToArray();
            default:
                throw new InvalidDataException($"initializer '{t.Name}' is {(TensorProto.Types.DataType)t.DataType}, not float");
        }
    }

    public static TensorProto FloatTensor(string name, ReadOnlySpan<float> values, params long[] dims) =>
        Tensor(name, TensorProto.Types.DataType.Float, MemoryMarshal.AsBytes(values), dims);

    public static TensorProto HalfTensor(string name, ReadOnlySpan<Half> values, params long[] dims) =>
        Tensor(name, TensorProto.Types.DataType.Float16, MemoryMarshal.AsBytes(values), dims);

    public static TensorProto Tensor(string name, TensorProto.Types.DataType type, ReadOnlySpan<byte> raw, params long[] dims)
    {
        var t = new TensorProto { Name = name, DataType = (int)type, RawData = ByteString.CopyFrom(raw) };
        t.Dims.AddRange(dims);
        return t;
    }

    public static NodeProto Node(string opType, string name, IEnumerable<string> inputs, IEnumerable<string> outputs, params AttributeProto[] attributes)
    {
        var node = new NodeProto { OpType = opType, Name = name };
        node.Input.AddRange(inputs);
        node.Output.AddRange(outputs);
        node.Attribute.AddRange(attributes);
        return node;
    }

    public static AttributeProto IntAttribute(string name, long value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

    /// <summary>Orders the nodes so every value is produced before it is read (ONNX requires it).</summary>
    public void SortTopologically() => OnnxGraphBuilder.SortTopologically(Graph);
}
