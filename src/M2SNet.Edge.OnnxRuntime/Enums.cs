namespace M2SNet.Edge.OnnxRuntime;

/// <summary>ONNX Runtime's error codes (OrtErrorCode).</summary>
public enum OrtErrorCode
{
    Ok = 0,
    Fail = 1,
    InvalidArgument = 2,
    NoSuchFile = 3,
    NoModel = 4,
    EngineError = 5,
    RuntimeException = 6,
    InvalidProtobuf = 7,
    ModelLoaded = 8,
    NotImplemented = 9,
    InvalidGraph = 10,
    ExecutionProviderFail = 11,
    ModelLoadCanceled = 12,
    ModelRequiresCompilation = 13,
}

/// <summary>Severity of ORT's own log messages (OrtLoggingLevel).</summary>
public enum OrtLoggingLevel
{
    Verbose = 0,
    Info = 1,
    Warning = 2,
    Error = 3,
    Fatal = 4,
}

/// <summary>Graph optimisation applied when a session is created (GraphOptimizationLevel).</summary>
public enum GraphOptimizationLevel
{
    DisableAll = 0,
    EnableBasic = 1,
    EnableExtended = 2,
    EnableAll = 99,
}

/// <summary>Whether independent nodes may run concurrently (ExecutionMode).</summary>
public enum ExecutionMode
{
    Sequential = 0,
    Parallel = 1,
}

/// <summary>Element type of a tensor (ONNXTensorElementDataType; the same numbers as ONNX's TensorProto.DataType).</summary>
public enum TensorElementType
{
    Undefined = 0,
    Float = 1,
    UInt8 = 2,
    Int8 = 3,
    UInt16 = 4,
    Int16 = 5,
    Int32 = 6,
    Int64 = 7,
    String = 8,
    Bool = 9,
    Float16 = 10,
    Double = 11,
    UInt32 = 12,
    UInt64 = 13,
    Complex64 = 14,
    Complex128 = 15,
    BFloat16 = 16,
}

/// <summary>Kind of value an input or output holds (ONNXType).</summary>
public enum OnnxValueType
{
    Unknown = 0,
    Tensor = 1,
    Sequence = 2,
    Map = 3,
    Opaque = 4,
    SparseTensor = 5,
    Optional = 6,
}

internal enum OrtAllocatorType
{
    Invalid = -1,
    Device = 0,
    Arena = 1,
}

internal enum OrtMemType
{
    CpuInput = -2,
    CpuOutput = -1,
    Default = 0,
}
