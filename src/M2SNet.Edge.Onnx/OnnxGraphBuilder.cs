using System.Runtime.InteropServices;
using Google.Protobuf;
using M2SNet.Edge.Onnx.Format;

namespace M2SNet.Edge.Onnx;

/// <summary>One dimension of a graph input or output: a fixed size or a symbolic name.</summary>
public readonly record struct Dim(long Value, string? Symbol)
{
    public static implicit operator Dim(long value) => new(value, null);
    public static implicit operator Dim(string symbol) => new(-1, symbol);
    public override string ToString() => Symbol ?? Value.ToString(System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>A node attribute; build with the static factories.</summary>
public sealed class Attr
{
    private readonly AttributeProto _proto;
    private Attr(AttributeProto proto) => _proto = proto;

    public static Attr Int(string name, long value) =>
        new(new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value });

    public static Attr Float(string name, float value) =>
        new(new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = value });

    public static Attr String(string name, string value) =>
        new(new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8(value) });

    public static Attr Ints(string name, params long[] values)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.AddRange(values);
        return a;
    }

    public static Attr Floats(string name, params float[] values)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Floats };
        a.Floats.AddRange(values);
        return a;
    }

    public static implicit operator Attr(AttributeProto proto) => new(proto);
    internal AttributeProto Proto => _proto;
}

/// <summary>
/// Builds an ONNX graph node by node. Value names are made unique by the builder, initializers
/// are stored as raw little-endian data, and <see cref="Build"/> refuses a model that would not
/// fit in one protobuf message (2 GiB) instead of writing a broken file.
/// </summary>
public sealed class OnnxGraphBuilder
{
    public const int DefaultOpset = 17;
    /// <summary>IR version 8 is the one that goes with opset 17.</summary>
    public const long IrVersion = 8;
    private const long ProtobufMessageLimit = int.MaxValue;

    private readonly GraphProto _graph;
    private readonly HashSet<string> _names = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _counters = new(StringComparer.Ordinal);
    private long _initializerBytes;

    private readonly long _messageLimit;

    public OnnxGraphBuilder(string graphName, int opset = DefaultOpset)
        : this(graphName, opset, ProtobufMessageLimit)
    {
    }

    /// <param name="messageLimit">Largest serialized model accepted (2 GiB, the protobuf limit; smaller in tests).</param>
    internal OnnxGraphBuilder(string graphName, int opset, long messageLimit)
    {
        _graph = new GraphProto { Name = graphName };
        Opset = opset;
        _messageLimit = messageLimit;
    }

    public int Opset { get; }

    /// <summary>Number of nodes emitted so far.</summary>
    public int NodeCount => _graph.Node.Count;

    /// <summary>Total bytes of initializer data so far.</summary>
    public long InitializerBytes => _initializerBytes;

    public string Input(string name, TensorElementKind kind, params Dim[] shape)
    {
        Claim(name);
        _graph.Input.Add(ValueInfo(name, kind, shape));
        return name;
    }

    public void Output(string value, TensorElementKind kind, params Dim[] shape) =>
        _graph.Output.Add(ValueInfo(value, kind, shape));

    public string Initializer(string name, ReadOnlySpan<float> data, params long[] dims) =>
        AddInitializer(name, TensorProto.Types.DataType.Float, MemoryMarshal.AsBytes(data), data.Length, dims);

    public string Initializer(string name, ReadOnlySpan<Half> data, params long[] dims) =>
        AddInitializer(name, TensorProto.Types.DataType.Float16, MemoryMarshal.AsBytes(data), data.Length, dims);

    public string Initializer(string name, ReadOnlySpan<long> data, params long[] dims) =>
        AddInitializer(name, TensorProto.Types.DataType.Int64, MemoryMarshal.AsBytes(data), data.Length, dims);

    /// <summary>A 1-D int64 constant (shapes, axes, pads).</summary>
    public string Int64s(string name, params long[] values) => Initializer(name, values, values.Length);

    /// <summary>Adds a node with one output and returns the output's value name.</summary>
    public string Node(string opType, IReadOnlyList<string> inputs, string? output = null, params Attr[] attributes) =>
        NodeWithOutputs(opType, inputs, [output ?? UniqueName(opType)], attributes)[0];

    /// <summary>Adds a node with the given outputs; empty input names stand for omitted optional inputs.</summary>
    public IReadOnlyList<string> NodeWithOutputs(string opType, IReadOnlyList<string> inputs, IReadOnlyList<string> outputs, params Attr[] attributes)
    {
        var node = new NodeProto { OpType = opType, Name = UniqueName(opType + "_node") };
        node.Input.AddRange(inputs);
        foreach (var o in outputs)
        {
            Claim(o);
            node.Output.Add(o);
        }
        foreach (var a in attributes) node.Attribute.Add(a.Proto);
        _graph.Node.Add(node);
        return outputs;
    }

    /// <summary>Points node inputs at other values (e.g. duplicates of one initializer at the one kept).</summary>
    public void RenameInputs(IReadOnlyDictionary<string, string> renames)
    {
        foreach (var node in _graph.Node)
        {
            for (var i = 0; i < node.Input.Count; i++)
            {
                if (renames.TryGetValue(node.Input[i], out var to)) node.Input[i] = to;
            }
        }
    }

    /// <summary>A fresh value name with the given stem (stem, stem_1, stem_2, ...).</summary>
    public string UniqueName(string stem)
    {
        var n = _counters.GetValueOrDefault(stem);
        string candidate;
        do
        {
            candidate = n == 0 ? stem : $"{stem}_{n}";
            n++;
        }
        while (_names.Contains(candidate));
        _counters[stem] = n;
        return candidate;
    }

    public ModelProto Build(string producerVersion = "0", IReadOnlyDictionary<string, string>? metadata = null)
    {
        SortTopologically(_graph);
        var model = new ModelProto
        {
            IrVersion = IrVersion,
            ProducerName = "M2SNet.Edge",
            ProducerVersion = producerVersion,
            Graph = _graph,
        };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = Opset });
        if (metadata is not null)
        {
            foreach (var (k, v) in metadata) model.MetadataProps.Add(new StringStringEntryProto { Key = k, Value = v });
        }
        // Protobuf messages are limited to 2 GiB; ONNX would need external data beyond that.
        var size = model.CalculateSize();
        if (size < 0 || size >= _messageLimit)
        {
            throw new InvalidOperationException(
                $"the model is {_initializerBytes / (1L << 20)} MiB of weights, over the 2 GiB limit of a single ONNX file; external data is not supported");
        }
        return model;
    }

    public byte[] ToBytes(string producerVersion = "0") => Build(producerVersion).ToByteArray();

    /// <summary>
    /// ONNX requires nodes in topological order; builders and rewrites may add a node after its
    /// consumers (a Cast for an initializer created at the end), so order them here, stably
    /// (depth-first from each node in turn, without recursion: graphs run to thousands of nodes).
    /// </summary>
    public static void SortTopologically(GraphProto graph)
    {
        var nodes = graph.Node.ToList();
        var producer = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < nodes.Count; i++)
        {
            foreach (var o in nodes[i].Output) producer[o] = i;
        }
        var state = new byte[nodes.Count]; // 0 new, 1 visiting, 2 done
        var order = new List<NodeProto>(nodes.Count);
        var stack = new Stack<(int Node, int Input)>();
        for (var start = 0; start < nodes.Count; start++)
        {
            if (state[start] != 0) continue;
            stack.Push((start, 0));
            state[start] = 1;
            while (stack.Count > 0)
            {
                var (n, i) = stack.Pop();
                var inputs = nodes[n].Input;
                if (i < inputs.Count)
                {
                    stack.Push((n, i + 1));
                    if (inputs[i].Length > 0 && producer.TryGetValue(inputs[i], out var p))
                    {
                        if (state[p] == 1) throw new InvalidOperationException($"graph '{graph.Name}' has a cycle through node {nodes[p].Name}");
                        if (state[p] == 0)
                        {
                            state[p] = 1;
                            stack.Push((p, 0));
                        }
                    }
                    continue;
                }
                state[n] = 2;
                order.Add(nodes[n]);
            }
        }
        graph.Node.Clear();
        graph.Node.AddRange(order);
    }

    private string AddInitializer(string name, TensorProto.Types.DataType type, ReadOnlySpan<byte> raw, long count, long[] dims)
    {
        long expected = 1;
        foreach (var d in dims) expected *= d;
        if (expected != count)
        {
            throw new ArgumentException($"initializer '{name}' has {count} values but shape [{string.Join(", ", dims)}] holds {expected}");
        }
        Claim(name);
        var t = new TensorProto { Name = name, DataType = (int)type, RawData = ByteString.CopyFrom(raw) };
        t.Dims.AddRange(dims);
        _graph.Initializer.Add(t);
        _initializerBytes += raw.Length;
        return name;
    }

    private void Claim(string name)
    {
        if (string.IsNullOrEmpty(name)) throw new ArgumentException("value names must not be empty");
        if (!_names.Add(name)) throw new ArgumentException($"value name '{name}' is already used in graph '{_graph.Name}'");
    }

    private static ValueInfoProto ValueInfo(string name, TensorElementKind kind, Dim[] shape)
    {
        var tensor = new TypeProto.Types.Tensor { ElemType = (int)kind, Shape = new TensorShapeProto() };
        foreach (var d in shape)
        {
            tensor.Shape.Dim.Add(d.Symbol is null
                ? new TensorShapeProto.Types.Dimension { DimValue = d.Value }
                : new TensorShapeProto.Types.Dimension { DimParam = d.Symbol });
        }
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = tensor } };
    }
}

/// <summary>ONNX tensor element types used in graph inputs and outputs (TensorProto.DataType values).</summary>
public enum TensorElementKind
{
    Float = 1,
    UInt8 = 2,
    Int8 = 3,
    Int32 = 6,
    Int64 = 7,
    Bool = 9,
    Float16 = 10,
    Double = 11,
}
