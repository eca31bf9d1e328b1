using System.Reflection;
using System.Runtime.InteropServices;
using M2SNet.Edge.OnnxRuntime.Native;

namespace M2SNet.Edge.OnnxRuntime.Tests;

/// <summary>
/// Each entry the binding reads from ORT's function table is checked by calling it and seeing the
/// behaviour its name promises, so a wrong index fails here rather than in the field.
/// Entries exercised elsewhere: Run/CreateSession*/Session* metadata (InferenceSessionTests),
/// IoBinding entries (InferenceSessionTests), Release* (HandleLifetimeTests).
/// </summary>
public sealed unsafe class OrtApiTableTests
{
    private static OrtApi Api => OrtEnvironment.Instance.Api;

    [Fact]
    public void Every_bound_entry_has_its_own_index_and_a_function_behind_it()
    {
        var indices = typeof(OrtApiIndex).GetFields(BindingFlags.Public | BindingFlags.Static)
            .ToDictionary(f => f.Name, f => (int)f.GetRawConstantValue()!);
        Assert.Equal(indices.Count, indices.Values.Distinct().Count());

        var pointers = typeof(OrtApi).GetFields(BindingFlags.Public | BindingFlags.Instance)
            .Where(f => f.FieldType.IsFunctionPointer).ToList();
        Assert.Equal(indices.Keys.Order(), pointers.Select(f => f.Name).Order());
        foreach (var f in pointers)
        {
            Assert.NotEqual(0, (nint)f.GetValue(Api)!);
        }
    }

    [Fact]
    public void Status_entries_round_trip_a_code_and_a_message()
    {
        var message = Marshal.StringToCoTaskMemUTF8("the table is in order");
        try
        {
            var status = Api.CreateStatus(OrtErrorCode.NotImplemented, (byte*)message);
            Assert.Equal(OrtErrorCode.NotImplemented, Api.GetErrorCode(status));
            Assert.Equal("the table is in order", Marshal.PtrToStringUTF8((nint)Api.GetErrorMessage(status)));

            var e = Api.ToException(Api.CreateStatus(OrtErrorCode.InvalidGraph, (byte*)message)); // also releases
            Assert.Equal(OrtErrorCode.InvalidGraph, e.ErrorCode);
            Api.ReleaseStatus(status);
        }
        finally
        {
            Marshal.FreeCoTaskMem(message);
        }
    }

    [Fact]
    public void Build_info_and_provider_list_describe_the_loaded_library()
    {
        var env = OrtEnvironment.Instance;

        Assert.StartsWith("ORT Build Info", env.BuildInfo, StringComparison.Ordinal);
        Assert.Contains("CPUExecutionProvider", env.AvailableProviders);
        Assert.Matches(@"^\d+\.\d+\.\d+", env.Version);
    }

    [Fact]
    public void Session_config_entries_are_stored_and_read_back()
    {
        var options = new SessionOptions();
        options.AddSessionConfigEntry("session.use_env_allocators", "0");
        using var handle = options.CreateNative(OrtEnvironment.Instance, ExecutionProvider.Cpu);
        var native = handle.DangerousGetHandle();

        Assert.Equal("0", ReadConfigEntry(native, "session.intra_op.allow_spinning"));
        Assert.Equal("0", ReadConfigEntry(native, "session.inter_op.allow_spinning"));
        Assert.Equal("0", ReadConfigEntry(native, "session.use_env_allocators"));
    }

    [Fact]
    public void Run_tag_is_stored_and_read_back()
    {
        using var runOptions = new RunOptions { LogTag = "frame-42" };

        Assert.Equal("frame-42", runOptions.LogTag);
    }

    [Fact]
    public void Cpu_memory_info_and_default_allocator_are_usable()
    {
        Assert.NotEqual(0, Api.CpuMemoryInfo);
        Assert.NotEqual(0, Api.DefaultAllocator);
        // CreateTensorAsOrtValue allocates through the default allocator.
        using var value = OrtValue.CreateAllocatedTensorValue(TensorElementType.Int64, [2, 3]);
        Assert.Equal(new TensorTypeAndShape(TensorElementType.Int64, [2, 3], 6).ToString(), value.GetTensorTypeAndShape().ToString());
    }

    [Theory]
    [InlineData("CUDA")]
    [InlineData("TensorRT")]
    public void Gpu_provider_option_entries_reach_their_providers_library(string name)
    {
        // ORT creates these option objects itself, then loads the provider's shared library to
        // fill them. Where the GPU libraries are installed the append succeeds; where they are
        // not (the npm package ships without them) ORT names the provider library it could not
        // load. Any other answer means the entry is not the one named.
        var env = OrtEnvironment.Instance;
        var provider = ExecutionProvider.Parse(name);
        using var options = new SessionOptions().CreateNative(env, ExecutionProvider.Cpu);
        try
        {
            provider.AppendTo(env, options.DangerousGetHandle());
        }
        catch (OrtException e)
        {
            Assert.Matches("providers_shared|providers_cuda|providers_tensorrt|CUDA|TensorRT", e.OrtMessage);
        }
    }

    [Fact]
    public void Symbolic_dimensions_and_element_count_come_from_the_shape_entries()
    {
        using var session = new InferenceSession(TestModels.Affine());
        using var value = OrtValue.CreateTensorValueFromMemory(new float[12], [3, 4]);

        Assert.Equal("batch", session.InputMetadata["x"].SymbolicDimensions[0]);
        Assert.Equal(12, value.GetTensorTypeAndShape().ElementCount);
    }

    private static string ReadConfigEntry(nint options, string key)
    {
        using var strings = new Utf8Strings();
        var k = strings.Add(key);
        nuint size = 0;
        var status = Api.GetSessionConfigEntry(options, k, null, &size);
        if (status != 0) Api.ReleaseStatus(status); // a null buffer asks for the size
        var buffer = stackalloc byte[(int)size];
        Api.Check(Api.GetSessionConfigEntry(options, k, buffer, &size));
        return Marshal.PtrToStringUTF8((nint)buffer) ?? string.Empty;
    }
}
