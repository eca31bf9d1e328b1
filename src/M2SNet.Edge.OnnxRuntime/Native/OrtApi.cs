using System.Runtime.InteropServices;

namespace M2SNet.Edge.OnnxRuntime.Native;

/// <summary>
/// The entries of ONNX Runtime's C function table this binding calls, read once from
/// <c>OrtGetApiBase()-&gt;GetApi(RequiredApiVersion)</c>. Every opaque ORT object is an
/// <see cref="nint"/> here; ownership lives in the <see cref="OrtHandle"/> subclasses.
/// </summary>
internal sealed unsafe class OrtApi
{
    /// <summary>ORT 1.15 added the last entry used here (GetBuildInfoString).</summary>
    public const uint RequiredApiVersion = 15;

    public readonly delegate* unmanaged<OrtErrorCode, byte*, nint> CreateStatus;
    public readonly delegate* unmanaged<nint, OrtErrorCode> GetErrorCode;
    public readonly delegate* unmanaged<nint, byte*> GetErrorMessage;
    public readonly delegate* unmanaged<nint, nint, OrtLoggingLevel, byte*, nint*, nint> CreateEnvWithCustomLogger;
    public readonly delegate* unmanaged<nint, void*, nint, nint*, nint> CreateSession;
    public readonly delegate* unmanaged<nint, void*, nuint, nint, nint*, nint> CreateSessionFromArray;
    public readonly delegate* unmanaged<nint, nint, byte**, nint*, nuint, byte**, nuint, nint*, nint> Run;
    public readonly delegate* unmanaged<nint*, nint> CreateSessionOptions;
    public readonly delegate* unmanaged<nint, ExecutionMode, nint> SetSessionExecutionMode;
    public readonly delegate* unmanaged<nint, void*, nint> EnableProfiling;
    public readonly delegate* unmanaged<nint, nint, byte**, nint> SessionEndProfiling;
    public readonly delegate* unmanaged<nint, nint> EnableMemPattern;
    public readonly delegate* unmanaged<nint, nint> DisableMemPattern;
    public readonly delegate* unmanaged<nint, nint> EnableCpuMemArena;
    public readonly delegate* unmanaged<nint, nint> DisableCpuMemArena;
    public readonly delegate* unmanaged<nint, byte*, nint> SetSessionLogId;
    public readonly delegate* unmanaged<nint, int, nint> SetSessionLogSeverityLevel;
    public readonly delegate* unmanaged<nint, GraphOptimizationLevel, nint> SetSessionGraphOptimizationLevel;
    public readonly delegate* unmanaged<nint, int, nint> SetIntraOpNumThreads;
    public readonly delegate* unmanaged<nint, int, nint> SetInterOpNumThreads;
    public readonly delegate* unmanaged<nint, nuint*, nint> SessionGetInputCount;
    public readonly delegate* unmanaged<nint, nuint*, nint> SessionGetOutputCount;
    public readonly delegate* unmanaged<nint, nuint, nint*, nint> SessionGetInputTypeInfo;
    public readonly delegate* unmanaged<nint, nuint, nint*, nint> SessionGetOutputTypeInfo;
    public readonly delegate* unmanaged<nint, nuint, nint, byte**, nint> SessionGetInputName;
    public readonly delegate* unmanaged<nint, nuint, nint, byte**, nint> SessionGetOutputName;
    public readonly delegate* unmanaged<nint*, nint> CreateRunOptions;
    public readonly delegate* unmanaged<nint, byte*, nint> RunOptionsSetRunTag;
    public readonly delegate* unmanaged<nint, byte**, nint> RunOptionsGetRunTag;
    public readonly delegate* unmanaged<nint, nint> RunOptionsSetTerminate;
    public readonly delegate* unmanaged<nint, nint> RunOptionsUnsetTerminate;
    public readonly delegate* unmanaged<nint, long*, nuint, TensorElementType, nint*, nint> CreateTensorAsOrtValue;
    public readonly delegate* unmanaged<nint, void*, nuint, long*, nuint, TensorElementType, nint*, nint> CreateTensorWithDataAsOrtValue;
    public readonly delegate* unmanaged<nint, int*, nint> IsTensor;
    public readonly delegate* unmanaged<nint, void**, nint> GetTensorMutableData;
    public readonly delegate* unmanaged<nint, nint*, nint> CastTypeInfoToTensorInfo;
    public readonly delegate* unmanaged<nint, OnnxValueType*, nint> GetOnnxTypeFromTypeInfo;
    public readonly delegate* unmanaged<nint, TensorElementType*, nint> GetTensorElementType;
    public readonly delegate* unmanaged<nint, nuint*, nint> GetDimensionsCount;
    public readonly delegate* unmanaged<nint, long*, nuint, nint> GetDimensions;
    public readonly delegate* unmanaged<nint, byte**, nuint, nint> GetSymbolicDimensions;
    public readonly delegate* unmanaged<nint, nuint*, nint> GetTensorShapeElementCount;
    public readonly delegate* unmanaged<nint, nint*, nint> GetTensorTypeAndShape;
    public readonly delegate* unmanaged<OrtAllocatorType, OrtMemType, nint*, nint> CreateCpuMemoryInfo;
    public readonly delegate* unmanaged<nint, void*, nint> AllocatorFree;
    public readonly delegate* unmanaged<nint*, nint> GetAllocatorWithDefaultOptions;
    public readonly delegate* unmanaged<nint, void> ReleaseEnv;
    public readonly delegate* unmanaged<nint, void> ReleaseStatus;
    public readonly delegate* unmanaged<nint, void> ReleaseMemoryInfo;
    public readonly delegate* unmanaged<nint, void> ReleaseSession;
    public readonly delegate* unmanaged<nint, void> ReleaseValue;
    public readonly delegate* unmanaged<nint, void> ReleaseRunOptions;
    public readonly delegate* unmanaged<nint, void> ReleaseTypeInfo;
    public readonly delegate* unmanaged<nint, void> ReleaseTensorTypeAndShapeInfo;
    public readonly delegate* unmanaged<nint, void> ReleaseSessionOptions;
    public readonly delegate* unmanaged<nint, nint*, nint> SessionGetModelMetadata;
    public readonly delegate* unmanaged<nint, nint, byte**, nint> ModelMetadataGetProducerName;
    public readonly delegate* unmanaged<nint, nint, byte*, byte**, nint> ModelMetadataLookupCustomMetadataMap;
    public readonly delegate* unmanaged<nint, void> ReleaseModelMetadata;
    public readonly delegate* unmanaged<byte***, int*, nint> GetAvailableProviders;
    public readonly delegate* unmanaged<byte**, int, nint> ReleaseAvailableProviders;
    public readonly delegate* unmanaged<nint, byte*, byte*, nint> AddSessionConfigEntry;
    public readonly delegate* unmanaged<nint, nint, nint, nint> RunWithBinding;
    public readonly delegate* unmanaged<nint, nint*, nint> CreateIoBinding;
    public readonly delegate* unmanaged<nint, void> ReleaseIoBinding;
    public readonly delegate* unmanaged<nint, byte*, nint, nint> BindInput;
    public readonly delegate* unmanaged<nint, byte*, nint, nint> BindOutput;
    public readonly delegate* unmanaged<nint, void> ClearBoundInputs;
    public readonly delegate* unmanaged<nint, void> ClearBoundOutputs;
    public readonly delegate* unmanaged<nint, nint, nint> SessionOptionsAppendExecutionProviderTensorRTV2;
    public readonly delegate* unmanaged<nint*, nint> CreateTensorRTProviderOptions;
    public readonly delegate* unmanaged<nint, byte**, byte**, nuint, nint> UpdateTensorRTProviderOptions;
    public readonly delegate* unmanaged<nint, void> ReleaseTensorRTProviderOptions;
    public readonly delegate* unmanaged<nint, nint, nint> SessionOptionsAppendExecutionProviderCudaV2;
    public readonly delegate* unmanaged<nint*, nint> CreateCudaProviderOptions;
    public readonly delegate* unmanaged<nint, byte**, byte**, nuint, nint> UpdateCudaProviderOptions;
    public readonly delegate* unmanaged<nint, void> ReleaseCudaProviderOptions;
    public readonly delegate* unmanaged<nint, byte*, byte*, nuint*, nint> GetSessionConfigEntry;
    public readonly delegate* unmanaged<byte*> GetBuildInfoString;

    public OrtApi(void** table, string versionString)
    {
        VersionString = versionString;
        CreateStatus = (delegate* unmanaged<OrtErrorCode, byte*, nint>)table[OrtApiIndex.CreateStatus];
        GetErrorCode = (delegate* unmanaged<nint, OrtErrorCode>)table[OrtApiIndex.GetErrorCode];
        GetErrorMessage = (delegate* unmanaged<nint, byte*>)table[OrtApiIndex.GetErrorMessage];
        CreateEnvWithCustomLogger = (delegate* unmanaged<nint, nint, OrtLoggingLevel, byte*, nint*, nint>)table[OrtApiIndex.CreateEnvWithCustomLogger];
        CreateSession = (delegate* unmanaged<nint, void*, nint, nint*, nint>)table[OrtApiIndex.CreateSession];
        CreateSessionFromArray = (delegate* unmanaged<nint, void*, nuint, nint, nint*, nint>)table[OrtApiIndex.CreateSessionFromArray];
        Run = (delegate* unmanaged<nint, nint, byte**, nint*, nuint, byte**, nuint, nint*, nint>)table[OrtApiIndex.Run];
        CreateSessionOptions = (delegate* unmanaged<nint*, nint>)table[OrtApiIndex.CreateSessionOptions];
        SetSessionExecutionMode = (delegate* unmanaged<nint, ExecutionMode, nint>)table[OrtApiIndex.SetSessionExecutionMode];
        EnableProfiling = (delegate* unmanaged<nint, void*, nint>)table[OrtApiIndex.EnableProfiling];
        SessionEndProfiling = (delegate* unmanaged<nint, nint, byte**, nint>)table[OrtApiIndex.SessionEndProfiling];
        EnableMemPattern = (delegate* unmanaged<nint, nint>)table[OrtApiIndex.EnableMemPattern];
        DisableMemPattern = (delegate* unmanaged<nint, nint>)table[OrtApiIndex.DisableMemPattern];
        EnableCpuMemArena = (delegate* unmanaged<nint, nint>)table[OrtApiIndex.EnableCpuMemArena];
        DisableCpuMemArena = (delegate* unmanaged<nint, nint>)table[OrtApiIndex.DisableCpuMemArena];
        SetSessionLogId = (delegate* unmanaged<nint, byte*, nint>)table[OrtApiIndex.SetSessionLogId];
        SetSessionLogSeverityLevel = (delegate* unmanaged<nint, int, nint>)table[OrtApiIndex.SetSessionLogSeverityLevel];
        SetSessionGraphOptimizationLevel = (delegate* unmanaged<nint, GraphOptimizationLevel, nint>)table[OrtApiIndex.SetSessionGraphOptimizationLevel];
        SetIntraOpNumThreads = (delegate* unmanaged<nint, int, nint>)table[OrtApiIndex.SetIntraOpNumThreads];
        SetInterOpNumThreads = (delegate* unmanaged<nint, int, nint>)table[OrtApiIndex.SetInterOpNumThreads];
        SessionGetInputCount = (delegate* unmanaged<nint, nuint*, nint>)table[OrtApiIndex.SessionGetInputCount];
        SessionGetOutputCount = (delegate* unmanaged<nint, nuint*, nint>)table[OrtApiIndex.SessionGetOutputCount];
        SessionGetInputTypeInfo = (delegate* unmanaged<nint, nuint, nint*, nint>)table[OrtApiIndex.SessionGetInputTypeInfo];
        SessionGetOutputTypeInfo = (delegate* unmanaged<nint, nuint, nint*, nint>)table[OrtApiIndex.SessionGetOutputTypeInfo];
        SessionGetInputName = (delegate* unmanaged<nint, nuint, nint, byte**, nint>)table[OrtApiIndex.SessionGetInputName];
        SessionGetOutputName = (delegate* unmanaged<nint, nuint, nint, byte**, nint>)table[OrtApiIndex.SessionGetOutputName];
        CreateRunOptions = (delegate* unmanaged<nint*, nint>)table[OrtApiIndex.CreateRunOptions];
        RunOptionsSetRunTag = (delegate* unmanaged<nint, byte*, nint>)table[OrtApiIndex.RunOptionsSetRunTag];
        RunOptionsGetRunTag = (delegate* unmanaged<nint, byte**, nint>)table[OrtApiIndex.RunOptionsGetRunTag];
        RunOptionsSetTerminate = (delegate* unmanaged<nint, nint>)table[OrtApiIndex.RunOptionsSetTerminate];
        RunOptionsUnsetTerminate = (delegate* unmanaged<nint, nint>)table[OrtApiIndex.RunOptionsUnsetTerminate];
        CreateTensorAsOrtValue = (delegate* unmanaged<nint, long*, nuint, TensorElementType, nint*, nint>)table[OrtApiIndex.CreateTensorAsOrtValue];
        CreateTensorWithDataAsOrtValue = (delegate* unmanaged<nint, void*, nuint, long*, nuint, TensorElementType, nint*, nint>)table[OrtApiIndex.CreateTensorWithDataAsOrtValue];
        IsTensor = (delegate* unmanaged<nint, int*, nint>)table[OrtApiIndex.IsTensor];
        GetTensorMutableData = (delegate* unmanaged<nint, void**, nint>)table[OrtApiIndex.GetTensorMutableData];
        CastTypeInfoToTensorInfo = (delegate* unmanaged<nint, nint*, nint>)table[OrtApiIndex.CastTypeInfoToTensorInfo];
        GetOnnxTypeFromTypeInfo = (delegate* unmanaged<nint, OnnxValueType*, nint>)table[OrtApiIndex.GetOnnxTypeFromTypeInfo];
        GetTensorElementType = (delegate* unmanaged<nint, TensorElementType*, nint>)table[OrtApiIndex.GetTensorElementType];
        GetDimensionsCount = (delegate* unmanaged<nint, nuint*, nint>)table[OrtApiIndex.GetDimensionsCount];
        GetDimensions = (delegate* unmanaged<nint, long*, nuint, nint>)table[OrtApiIndex.GetDimensions];
        GetSymbolicDimensions = (delegate* unmanaged<nint, byte**, nuint, nint>)table[OrtApiIndex.GetSymbolicDimensions];
        GetTensorShapeElementCount = (delegate* unmanaged<nint, nuint*, nint>)table[OrtApiIndex.GetTensorShapeElementCount];
        GetTensorTypeAndShape = (delegate* unmanaged<nint, nint*, nint>)table[OrtApiIndex.GetTensorTypeAndShape];
        CreateCpuMemoryInfo = (delegate* unmanaged<OrtAllocatorType, OrtMemType, nint*, nint>)table[OrtApiIndex.CreateCpuMemoryInfo];
        AllocatorFree = (delegate* unmanaged<nint, void*, nint>)table[OrtApiIndex.AllocatorFree];
        GetAllocatorWithDefaultOptions = (delegate* unmanaged<nint*, nint>)table[OrtApiIndex.GetAllocatorWithDefaultOptions];
        ReleaseEnv = (delegate* unmanaged<nint, void>)table[OrtApiIndex.ReleaseEnv];
        ReleaseStatus = (delegate* unmanaged<nint, void>)table[OrtApiIndex.ReleaseStatus];
        ReleaseMemoryInfo = (delegate* unmanaged<nint, void>)table[OrtApiIndex.ReleaseMemoryInfo];
        ReleaseSession = (delegate* unmanaged<nint, void>)table[OrtApiIndex.ReleaseSession];
        ReleaseValue = (delegate* unmanaged<nint, void>)table[OrtApiIndex.ReleaseValue];
        ReleaseRunOptions = (delegate* unmanaged<nint, void>)table[OrtApiIndex.ReleaseRunOptions];
        ReleaseTypeInfo = (delegate* unmanaged<nint, void>)table[OrtApiIndex.ReleaseTypeInfo];
        ReleaseTensorTypeAndShapeInfo = (delegate* unmanaged<nint, void>)table[OrtApiIndex.ReleaseTensorTypeAndShapeInfo];
        ReleaseSessionOptions = (delegate* unmanaged<nint, void>)table[OrtApiIndex.ReleaseSessionOptions];
        SessionGetModelMetadata = (delegate* unmanaged<nint, nint*, nint>)table[OrtApiIndex.SessionGetModelMetadata];
        ModelMetadataGetProducerName = (delegate* unmanaged<nint, nint, byte**, nint>)table[OrtApiIndex.ModelMetadataGetProducerName];
        ModelMetadataLookupCustomMetadataMap = (delegate* unmanaged<nint, nint, byte*, byte**, nint>)table[OrtApiIndex.ModelMetadataLookupCustomMetadataMap];
        ReleaseModelMetadata = (delegate* unmanaged<nint, void>)table[OrtApiIndex.ReleaseModelMetadata];
        GetAvailableProviders = (delegate* unmanaged<byte***, int*, nint>)table[OrtApiIndex.GetAvailableProviders];
        ReleaseAvailableProviders = (delegate* unmanaged<byte**, int, nint>)table[OrtApiIndex.ReleaseAvailableProviders];
        AddSessionConfigEntry = (delegate* unmanaged<nint, byte*, byte*, nint>)table[OrtApiIndex.AddSessionConfigEntry];
        RunWithBinding = (delegate* unmanaged<nint, nint, nint, nint>)table[OrtApiIndex.RunWithBinding];
        CreateIoBinding = (delegate* unmanaged<nint, nint*, nint>)table[OrtApiIndex.CreateIoBinding];
        ReleaseIoBinding = (delegate* unmanaged<nint, void>)table[OrtApiIndex.ReleaseIoBinding];
        BindInput = (delegate* unmanaged<nint, byte*, nint, nint>)table[OrtApiIndex.BindInput];
        BindOutput = (delegate* unmanaged<nint, byte*, nint, nint>)table[OrtApiIndex.BindOutput];
        ClearBoundInputs = (delegate* unmanaged<nint, void>)table[OrtApiIndex.ClearBoundInputs];
        ClearBoundOutputs = (delegate* unmanaged<nint, void>)table[OrtApiIndex.ClearBoundOutputs];
        SessionOptionsAppendExecutionProviderTensorRTV2 = (delegate* unmanaged<nint, nint, nint>)table[OrtApiIndex.SessionOptionsAppendExecutionProviderTensorRTV2];
        CreateTensorRTProviderOptions = (delegate* unmanaged<nint*, nint>)table[OrtApiIndex.CreateTensorRTProviderOptions];
        UpdateTensorRTProviderOptions = (delegate* unmanaged<nint, byte**, byte**, nuint, nint>)table[OrtApiIndex.UpdateTensorRTProviderOptions];
        ReleaseTensorRTProviderOptions = (delegate* unmanaged<nint, void>)table[OrtApiIndex.ReleaseTensorRTProviderOptions];
        SessionOptionsAppendExecutionProviderCudaV2 = (delegate* unmanaged<nint, nint, nint>)table[OrtApiIndex.SessionOptionsAppendExecutionProviderCudaV2];
        CreateCudaProviderOptions = (delegate* unmanaged<nint*, nint>)table[OrtApiIndex.CreateCudaProviderOptions];
        UpdateCudaProviderOptions = (delegate* unmanaged<nint, byte**, byte**, nuint, nint>)table[OrtApiIndex.UpdateCudaProviderOptions];
        ReleaseCudaProviderOptions = (delegate* unmanaged<nint, void>)table[OrtApiIndex.ReleaseCudaProviderOptions];
        GetSessionConfigEntry = (delegate* unmanaged<nint, byte*, byte*, nuint*, nint>)table[OrtApiIndex.GetSessionConfigEntry];
        GetBuildInfoString = (delegate* unmanaged<byte*>)table[OrtApiIndex.GetBuildInfoString];

        nint allocator;
        Check(GetAllocatorWithDefaultOptions(&allocator));
        DefaultAllocator = allocator;
        nint memoryInfo;
        Check(CreateCpuMemoryInfo(OrtAllocatorType.Arena, OrtMemType.Default, &memoryInfo));
        CpuMemoryInfo = memoryInfo;
    }

    /// <summary>The library's own version string (OrtApiBase.GetVersionString).</summary>
    public string VersionString { get; }

    /// <summary>ORT's default CPU allocator; owned by ORT, never released.</summary>
    public nint DefaultAllocator { get; }

    /// <summary>CPU memory description for tensors over caller memory; lives as long as the process.</summary>
    public nint CpuMemoryInfo { get; }

    /// <summary>Throws <see cref="OrtException"/> for a non-null status, releasing the status first.</summary>
    public void Check(nint status)
    {
        if (status == 0) return;
        throw ToException(status);
    }

    public OrtException ToException(nint status)
    {
        var code = GetErrorCode(status);
        var message = Marshal.PtrToStringUTF8((nint)GetErrorMessage(status)) ?? "(no message)";
        ReleaseStatus(status);
        return new OrtException(code, message);
    }

    /// <summary>Copies and frees a string ORT allocated with the default allocator.</summary>
    public string TakeAllocatedString(byte* value)
    {
        try
        {
            return Marshal.PtrToStringUTF8((nint)value) ?? string.Empty;
        }
        finally
        {
            if (value != null) Check(AllocatorFree(DefaultAllocator, value));
        }
    }
}
