namespace M2SNet.Edge.OnnxRuntime.Tests;

public sealed class InferenceSessionTests
{
    [Fact]
    public void Metadata_lists_names_types_and_symbolic_dimensions()
    {
        using var session = new InferenceSession(TestModels.Affine());

        var input = Assert.Single(session.InputMetadata.Values);
        Assert.Equal("x", input.Name);
        Assert.Equal(OnnxValueType.Tensor, input.OnnxValueType);
        Assert.Equal(TensorElementType.Float, input.ElementType);
        Assert.Equal([-1L, 4L], input.Dimensions);
        Assert.Equal(["batch", ""], input.SymbolicDimensions);
        Assert.Equal("[batch, 4]", input.ShapeText);
        Assert.Equal(["y"], session.OutputNames);
    }

    [Fact]
    public void Run_computes_what_the_graph_says()
    {
        using var session = new InferenceSession(TestModels.Affine());
        var x = TestModels.Random(3 * 4, seed: 7);
        using var input = OrtValue.CreateTensorValueFromMemory(x, [3, 4]);

        using var outputs = session.Run(new Dictionary<string, OrtValue> { ["x"] = input });

        var y = Assert.Single(outputs);
        Assert.Equal([3L, 4L], y.GetTensorTypeAndShape().Shape);
        Assert.Equal(TestModels.AffineExpected(x), y.GetTensorDataAsSpan<float>().ToArray());
    }

    [Fact]
    public void Convolution_matches_a_direct_CSharp_convolution()
    {
        const int cin = 3, cout = 4, h = 7, w = 9;
        var weight = TestModels.Random(cout * cin * 9, seed: 1);
        var bias = TestModels.Random(cout, seed: 2);
        var x = TestModels.Random(cin * h * w, seed: 3);
        using var session = new InferenceSession(TestModels.Conv3x3(weight, bias, cin, cout, h, w));
        using var input = OrtValue.CreateTensorValueFromMemory(x, [1, cin, h, w]);

        using var outputs = session.Run(new Dictionary<string, OrtValue> { ["x"] = input });

        var expected = TestModels.Conv3x3Expected(x, weight, bias, cin, cout, h, w);
        var actual = outputs[0].GetTensorDataAsSpan<float>();
        for (var i = 0; i < expected.Length; i++) Assert.Equal(expected[i], actual[i], 1e-5f);
    }

    [Fact]
    public void Several_inputs_and_outputs_are_matched_by_name_in_any_order()
    {
        using var session = new InferenceSession(TestModels.SumAndProduct());
        float[] a = [1, 2, 3, 4, 5, 6], b = [10, 20, 30, 40, 50, 60];
        using var va = OrtValue.CreateTensorValueFromMemory(a, [2, 3]);
        using var vb = OrtValue.CreateTensorValueFromMemory(b, [2, 3]);

        using var outputs = session.Run(null, ["b", "a"], [vb, va], ["product", "sum"]);

        Assert.Equal([10f, 40, 90, 160, 250, 360], outputs[0].GetTensorDataAsSpan<float>().ToArray());
        Assert.Equal([11f, 22, 33, 44, 55, 66], outputs[1].GetTensorDataAsSpan<float>().ToArray());
    }

    [Fact]
    public void Input_over_caller_memory_is_not_copied()
    {
        using var session = new InferenceSession(TestModels.Affine());
        var x = new float[4];
        using var input = OrtValue.CreateTensorValueFromMemory(x, [1, 4]);
        using (var first = session.Run(new Dictionary<string, OrtValue> { ["x"] = input }))
        {
            Assert.Equal(TestModels.AffineBias, first[0].GetTensorDataAsSpan<float>().ToArray());
        }

        x[2] = 5f; // the same OrtValue now sees the new contents
        using var second = session.Run(new Dictionary<string, OrtValue> { ["x"] = input });

        Assert.Equal(5f * TestModels.AffineScale[2] + TestModels.AffineBias[2], second[0].GetTensorDataAsSpan<float>()[2]);
    }

    [Fact]
    public void Run_writes_into_preallocated_outputs()
    {
        using var session = new InferenceSession(TestModels.Affine());
        var x = TestModels.Random(8, seed: 11);
        var y = new float[8];
        using var input = OrtValue.CreateTensorValueFromMemory(x, [2, 4]);
        using var output = OrtValue.CreateTensorValueFromMemory(y, [2, 4]);

        session.Run(null, ["x"], [input], ["y"], [output]);

        Assert.Equal(TestModels.AffineExpected(x), y);
    }

    [Fact]
    public void Io_binding_reuses_the_same_buffers_for_every_run()
    {
        using var session = new InferenceSession(TestModels.Affine());
        var x = new float[4];
        var y = new float[4];
        using var input = OrtValue.CreateTensorValueFromMemory(x, [1, 4]);
        using var output = OrtValue.CreateTensorValueFromMemory(y, [1, 4]);
        using var binding = session.CreateIoBinding();
        binding.BindInput("x", input);
        binding.BindOutput("y", output);

        for (var frame = 1; frame <= 3; frame++)
        {
            Array.Fill(x, frame);
            session.RunWithBinding(binding);
            Assert.Equal(TestModels.AffineExpected(x), y);
        }
    }

    [Fact]
    public void Cleared_binding_has_nothing_to_run()
    {
        using var session = new InferenceSession(TestModels.Affine());
        using var input = OrtValue.CreateTensorValueFromMemory(new float[4], [1, 4]);
        using var output = OrtValue.CreateTensorValueFromMemory(new float[4], [1, 4]);
        using var binding = session.CreateIoBinding();
        binding.BindInput("x", input);
        binding.BindOutput("y", output);
        session.RunWithBinding(binding);

        binding.ClearBoundInputs();
        Assert.Throws<OrtException>(() => session.RunWithBinding(binding));

        binding.BindInput("x", input);
        binding.ClearBoundOutputs();
        Assert.Throws<OrtException>(() => session.RunWithBinding(binding));
    }

    [Fact]
    public void Tensor_allocated_by_ORT_can_be_filled_in_place()
    {
        using var session = new InferenceSession(TestModels.Affine());
        using var input = OrtValue.CreateAllocatedTensorValue(TensorElementType.Float, [1, 4]);
        Assert.True(input.IsTensor);
        input.GetTensorMutableDataAsSpan<float>().Fill(2f);

        using var outputs = session.Run(new Dictionary<string, OrtValue> { ["x"] = input });

        Assert.Equal(TestModels.AffineExpected([2f, 2f, 2f, 2f]), outputs[0].GetTensorDataAsSpan<float>().ToArray());
    }

    [Fact]
    public void Session_can_be_created_from_a_file()
    {
        var path = Path.Combine(Path.GetTempPath(), $"m2s-affine-{Guid.NewGuid():N}.onnx");
        File.WriteAllBytes(path, TestModels.Affine());
        try
        {
            using var session = new InferenceSession(path);
            Assert.Equal(["x"], session.InputNames);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Custom_metadata_and_producer_are_read_from_the_model()
    {
        using var session = new InferenceSession(TestModels.WithMetadata("m2snet.model_id", "demo-7"));

        Assert.Equal("demo-7", session.GetCustomMetadata("m2snet.model_id"));
        Assert.Null(session.GetCustomMetadata("absent"));
        Assert.Equal("M2SNet.Edge", session.ProducerName);
    }

    [Fact]
    public void Runs_from_several_threads_at_once_all_get_their_own_answer()
    {
        using var session = new InferenceSession(TestModels.Affine());

        Parallel.For(0, 64, new ParallelOptions { MaxDegreeOfParallelism = 4 }, i =>
        {
            var x = TestModels.Random(4, seed: i);
            using var input = OrtValue.CreateTensorValueFromMemory(x, [1, 4]);
            using var outputs = session.Run(new Dictionary<string, OrtValue> { ["x"] = input });
            Assert.Equal(TestModels.AffineExpected(x), outputs[0].GetTensorDataAsSpan<float>().ToArray());
        });
    }
}

public sealed class ProfilingTests
{
    [Fact]
    public void Profiling_writes_a_trace_with_every_node_that_ran()
    {
        var prefix = Path.Combine(Path.GetTempPath(), $"m2s-profile-{Guid.NewGuid():N}");
        using var session = new InferenceSession(TestModels.Affine(), new SessionOptions { ProfileOutputPathPrefix = prefix });
        using var input = OrtValue.CreateTensorValueFromMemory(new float[4], [1, 4]);
        session.Run(null, ["x"], [input], ["y"]).Dispose();

        var file = session.EndProfiling();
        try
        {
            Assert.StartsWith(prefix, file, StringComparison.Ordinal);
            var trace = File.ReadAllText(file);
            Assert.Contains("\"op_name\" : \"Mul\"", trace.Replace("\":\"", "\" : \"", StringComparison.Ordinal));
            Assert.Contains("Add", trace);
        }
        finally
        {
            File.Delete(file);
        }
    }
}

public sealed class GraphBuilderTests
{
    [Fact]
    public void A_model_over_the_single_file_limit_is_refused_not_written_broken()
    {
        var g = new M2SNet.Edge.Onnx.OnnxGraphBuilder("big", 17, messageLimit: 1 << 20);
        var x = g.Input("x", M2SNet.Edge.Onnx.TensorElementKind.Float, 4);
        g.Initializer("w", new float[1 << 19], 1 << 19);
        g.Output(g.Node("Identity", [x], "y"), M2SNet.Edge.Onnx.TensorElementKind.Float, 4);

        var e = Assert.Throws<InvalidOperationException>(() => g.ToBytes());

        Assert.Contains("over the 2 GiB limit of a single ONNX file", e.Message);
    }

    [Fact]
    public void Nodes_added_out_of_order_are_written_in_topological_order()
    {
        var g = new M2SNet.Edge.Onnx.OnnxGraphBuilder("order");
        var x = g.Input("x", M2SNet.Edge.Onnx.TensorElementKind.Float, 4);
        var y = g.Node("Mul", [x, "two"], "y");
        g.Node("Identity", [g.Initializer("two_source", new float[] { 2, 2, 2, 2 }, 4)], "two"); // produced after its consumer
        g.Output(y, M2SNet.Edge.Onnx.TensorElementKind.Float, 4);

        using var session = new InferenceSession(g.ToBytes());
        using var input = OrtValue.CreateTensorValueFromMemory(new float[] { 1, 2, 3, 4 }, [4]);
        using var outputs = session.Run(new Dictionary<string, OrtValue> { ["x"] = input });

        Assert.Equal([2f, 4, 6, 8], outputs[0].GetTensorDataAsSpan<float>().ToArray());
    }
}
