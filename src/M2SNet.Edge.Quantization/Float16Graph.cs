using M2SNet.Edge.Onnx.Format;
using DataType = M2SNet.Edge.Onnx.Format.TensorProto.Types.DataType;

namespace M2SNet.Edge.Quantization;

/// <summary>
/// A float32 graph in float16 for GPU providers: every float weight and activation in half
/// precision, the image input and the output still float32 (a Cast at each end), so clients and
/// the daemon feed and read it as before. Inputs ONNX requires in float (Resize's scales and roi)
/// stay float. On the CPU provider ONNX Runtime computes such nodes in float32 around Casts, which
/// rounds every activation to float16 as a GPU stores it: the accuracy check measures that.
/// </summary>
internal static class Float16Graph
{
    public static byte[] Convert(OnnxGraph floatGraph)
    {
        var g = floatGraph.Clone();
        var graph = g.Graph;
        var keepFloat = new HashSet<string>(StringComparer.Ordinal);
        foreach (var node in graph.Node.Where(n => n.OpType == "Resize"))
        {
            for (var i = 1; i < Math.Min(3, node.Input.Count); i++)
            {
                if (node.Input[i].Length > 0) keepFloat.Add(node.Input[i]);
            }
        }
        var initializers = graph.Initializer.ToList();
        graph.Initializer.Clear();
        foreach (var t in initializers)
        {
            if (t.DataType != (int)DataType.Float || keepFloat.Contains(t.Name))
            {
                graph.Initializer.Add(t);
                continue;
            }
            var values = OnnxGraph.ReadFloats(t);
            var half = new Half[values.Length];
            for (var i = 0; i < half.Length; i++) half[i] = (Half)values[i];
            graph.Initializer.Add(OnnxGraph.HalfTensor(t.Name, half, t.Dims.ToArray()));
        }
        foreach (var node in graph.Node.Where(n => n.OpType == "Cast"))
        {
            var to = node.Attribute.First(a => a.Name == "to");
            if (to.I == (long)DataType.Float) to.I = (long)DataType.Float16;
        }

        var added = new List<NodeProto>();
        foreach (var input in graph.Input.Where(i => i.Type?.TensorType?.ElemType == (int)DataType.Float))
        {
            var half = g.FreshName(input.Name + "_fp16");
            foreach (var node in graph.Node)
            {
                for (var i = 0; i < node.Input.Count; i++)
                {
                    if (node.Input[i] == input.Name) node.Input[i] = half;
                }
            }
            added.Add(OnnxGraph.Node("Cast", g.FreshName(input.Name + "_to_fp16"), [input.Name], [half],
                OnnxGraph.IntAttribute("to", (long)DataType.Float16)));
        }
        foreach (var output in graph.Output.Where(o => o.Type?.TensorType?.ElemType == (int)DataType.Float))
        {
            var half = g.FreshName(output.Name + "_fp16");
            foreach (var node in graph.Node)
            {
                for (var i = 0; i < node.Output.Count; i++)
                {
                    if (node.Output[i] == output.Name) node.Output[i] = half;
                }
                for (var i = 0; i < node.Input.Count; i++)
                {
                    if (node.Input[i] == output.Name) node.Input[i] = half;
                }
            }
            added.Add(OnnxGraph.Node("Cast", g.FreshName(output.Name + "_to_fp32"), [half], [output.Name],
                OnnxGraph.IntAttribute("to", (long)DataType.Float)));
        }
        graph.Node.AddRange(added);
        graph.ValueInfo.Clear();
        g.Reindex();
        g.SortTopologically();
        return g.ToBytes();
    }
}
