namespace M2SNet.Edge.OnnxRuntime.Tests;

public sealed class ExecutionProviderTests
{
    [Fact]
    public void Preference_list_falls_through_to_the_first_provider_the_library_has()
    {
        var preference = ExecutionProvider.DefaultPreference;
        var options = new SessionOptions { ExecutionProviders = [.. preference] };

        using var session = new InferenceSession(TestModels.Affine(), options);

        // Each provider before the chosen one failed, in order, with a reason.
        var failed = session.ProviderFailures.Select(f => f.Provider).ToList();
        Assert.Equal(preference.Take(failed.Count), failed);
        Assert.Equal(preference[failed.Count], session.ExecutionProvider);
        Assert.All(session.ProviderFailures, f => Assert.False(string.IsNullOrWhiteSpace(f.Reason)));
        using var input = OrtValue.CreateTensorValueFromMemory(new float[4], [1, 4]);
        using var outputs = session.Run(new Dictionary<string, OrtValue> { ["x"] = input });
        Assert.Equal(TestModels.AffineBias, outputs[0].GetTensorDataAsSpan<float>().ToArray());
    }

    [Fact]
    public void A_provider_missing_from_the_build_is_reported_with_what_the_build_has()
    {
        var env = OrtEnvironment.Instance;
        Assert.SkipWhen(env.AvailableProviders.Contains("DmlExecutionProvider"), "this ORT build has DirectML");

        using var session = new InferenceSession(TestModels.Affine(), new SessionOptions { ExecutionProviders = [new DirectMLExecutionProvider(), ExecutionProvider.Cpu] });

        var failure = Assert.Single(session.ProviderFailures);
        Assert.Equal("DirectML", failure.Provider.Name);
        Assert.Contains("CPUExecutionProvider", failure.Reason);
        Assert.Equal(ExecutionProvider.Cpu, session.ExecutionProvider);
    }

    [Fact]
    public void Model_errors_are_not_hidden_behind_provider_fallback()
    {
        var options = new SessionOptions { ExecutionProviders = [.. ExecutionProvider.DefaultPreference] };

        var e = Assert.Throws<OrtException>(() => new InferenceSession("/nonexistent.onnx", options));

        Assert.Equal(OrtErrorCode.NoSuchFile, e.ErrorCode);
    }

    [Fact]
    public void Without_any_usable_provider_the_error_lists_each_reason()
    {
        var env = OrtEnvironment.Instance;
        Assert.SkipWhen(env.AvailableProviders.Contains("DmlExecutionProvider"), "this ORT build has DirectML");

        var e = Assert.Throws<OrtException>(() => new InferenceSession(TestModels.Affine(), new SessionOptions { ExecutionProviders = [new DirectMLExecutionProvider()] }));

        Assert.Equal(OrtErrorCode.ExecutionProviderFail, e.ErrorCode);
        Assert.Contains("DirectML", e.Message);
    }

    [Theory]
    [InlineData("TensorRT", "TensorRT")]
    [InlineData("cuda", "CUDA")]
    [InlineData("dml", "DirectML")]
    [InlineData("CPU", "CPU")]
    public void Provider_names_from_configuration_are_parsed(string text, string name)
    {
        Assert.Equal(name, ExecutionProvider.Parse(text).Name);
    }

    [Fact]
    public void Unknown_provider_name_is_refused()
    {
        var e = Assert.Throws<ArgumentException>(() => ExecutionProvider.Parse("quantum"));

        Assert.Contains("quantum", e.Message);
    }
}
