namespace M2SNet.Edge.OnnxRuntime.Tests;

/// <summary>Every ORT failure arrives as an exception with ORT's code and message; nothing crashes.</summary>
public sealed class ErrorPathTests
{
    [Fact]
    public void Missing_model_file_is_NoSuchFile()
    {
        var e = Assert.Throws<OrtException>(() => new InferenceSession("/nonexistent/model.onnx"));

        Assert.Equal(OrtErrorCode.NoSuchFile, e.ErrorCode);
        Assert.Contains("/nonexistent/model.onnx", e.Message);
    }

    [Fact]
    public void Bytes_that_are_not_a_model_are_InvalidProtobuf()
    {
        var garbage = new byte[4096];
        new Random(5).NextBytes(garbage);

        var e = Assert.Throws<OrtException>(() => new InferenceSession(garbage));

        Assert.Equal(OrtErrorCode.InvalidProtobuf, e.ErrorCode);
    }

    [Fact]
    public void Truncated_model_is_rejected()
    {
        var model = TestModels.Conv3x3(TestModels.Random(4 * 3 * 9, 1), new float[4], 3, 4, 5, 5);

        var e = Assert.Throws<OrtException>(() => new InferenceSession(model[..(model.Length / 2)]));

        Assert.Equal(OrtErrorCode.InvalidProtobuf, e.ErrorCode);
    }

    [Fact]
    public void Empty_model_is_rejected()
    {
        Assert.Throws<OrtException>(() => new InferenceSession(Array.Empty<byte>()));
    }

    [Fact]
    public void Wrong_input_shape_is_InvalidArgument_with_ORTs_reason()
    {
        using var session = new InferenceSession(TestModels.Affine());
        using var input = OrtValue.CreateTensorValueFromMemory(new float[6], [2, 3]);

        var e = Assert.Throws<OrtException>(() => session.Run(new Dictionary<string, OrtValue> { ["x"] = input }));

        Assert.Equal(OrtErrorCode.InvalidArgument, e.ErrorCode);
        Assert.Contains("dimensions", e.OrtMessage, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void Wrong_element_type_is_InvalidArgument()
    {
        using var session = new InferenceSession(TestModels.Affine());
        using var input = OrtValue.CreateTensorValueFromMemory(new double[4], [1, 4]);

        var e = Assert.Throws<OrtException>(() => session.Run(new Dictionary<string, OrtValue> { ["x"] = input }));

        Assert.Equal(OrtErrorCode.InvalidArgument, e.ErrorCode);
    }

    [Fact]
    public void Buffer_too_small_for_its_shape_is_refused_by_ORT()
    {
        var e = Assert.Throws<OrtException>(() => OrtValue.CreateTensorValueFromMemory(new float[3], [2, 4]));

        Assert.Equal(OrtErrorCode.InvalidArgument, e.ErrorCode);
    }

    [Fact]
    public void Preallocated_output_of_the_wrong_shape_is_refused()
    {
        using var session = new InferenceSession(TestModels.Affine());
        using var input = OrtValue.CreateTensorValueFromMemory(new float[8], [2, 4]);
        using var output = OrtValue.CreateTensorValueFromMemory(new float[4], [1, 4]);

        Assert.Throws<OrtException>(() => session.Run(null, ["x"], [input], ["y"], [output]));
    }

    [Fact]
    public void Unknown_input_name_names_the_real_inputs()
    {
        using var session = new InferenceSession(TestModels.Affine());
        using var input = OrtValue.CreateTensorValueFromMemory(new float[4], [1, 4]);

        var e = Assert.Throws<ArgumentException>(() => session.Run(new Dictionary<string, OrtValue> { ["image"] = input }));

        Assert.Contains("'image'", e.Message);
        Assert.Contains("x", e.Message);
    }

    [Fact]
    public void Terminate_flag_stops_runs_until_it_is_cleared()
    {
        using var session = new InferenceSession(TestModels.Affine());
        using var input = OrtValue.CreateTensorValueFromMemory(new float[4], [1, 4]);
        using var runOptions = new RunOptions { Terminate = true };

        var e = Assert.Throws<OrtException>(() => session.Run(runOptions, ["x"], [input], ["y"]));
        Assert.Contains("terminate", e.OrtMessage, StringComparison.OrdinalIgnoreCase);

        runOptions.Terminate = false;
        using var outputs = session.Run(runOptions, ["x"], [input], ["y"]);
        Assert.Equal(TestModels.AffineBias, outputs[0].GetTensorDataAsSpan<float>().ToArray());
    }

    [Fact]
    public void Reading_a_tensor_as_the_wrong_type_is_refused()
    {
        using var value = OrtValue.CreateTensorValueFromMemory(new float[4], [4]);

        var e = Assert.Throws<InvalidOperationException>(() => value.GetTensorDataAsSpan<int>().Length);

        Assert.Contains("Float", e.Message);
    }

    [Fact]
    public void Negative_thread_count_is_refused_before_reaching_ORT()
    {
        var options = new SessionOptions { IntraOpNumThreads = -1 };

        Assert.Throws<ArgumentOutOfRangeException>(() => new InferenceSession(TestModels.Affine(), options));
    }
}

public sealed class DisposalTests
{
    [Fact]
    public void Running_a_disposed_session_is_ObjectDisposed_not_a_crash()
    {
        var session = new InferenceSession(TestModels.Affine());
        using var input = OrtValue.CreateTensorValueFromMemory(new float[4], [1, 4]);
        session.Dispose();

        Assert.Throws<ObjectDisposedException>(() => session.Run(null, ["x"], [input], ["y"]));
    }

    [Fact]
    public void Passing_a_disposed_value_is_ObjectDisposed_not_a_crash()
    {
        using var session = new InferenceSession(TestModels.Affine());
        var input = OrtValue.CreateTensorValueFromMemory(new float[4], [1, 4]);
        input.Dispose();

        Assert.Throws<ObjectDisposedException>(() => session.Run(null, ["x"], [input], ["y"]));
    }

    [Fact]
    public void Binding_keeps_working_until_disposed_even_after_its_session_is()
    {
        var session = new InferenceSession(TestModels.Affine());
        var y = new float[4];
        using var input = OrtValue.CreateTensorValueFromMemory(new float[] { 1, 1, 1, 1 }, [1, 4]);
        using var output = OrtValue.CreateTensorValueFromMemory(y, [1, 4]);
        var binding = session.CreateIoBinding();
        binding.BindInput("x", input);
        binding.BindOutput("y", output);

        session.Dispose();

        Assert.Throws<ObjectDisposedException>(() => binding.BindInput("x", input));
        Assert.Throws<ObjectDisposedException>(() => session.RunWithBinding(binding));
        binding.Dispose();
        binding.Dispose();
    }
}
