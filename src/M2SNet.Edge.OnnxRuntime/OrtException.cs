namespace M2SNet.Edge.OnnxRuntime;

/// <summary>A failure reported by ONNX Runtime, with its error code and message.</summary>
public sealed class OrtException : Exception
{
    public OrtException(OrtErrorCode errorCode, string message)
        : base($"[ONNX Runtime {errorCode}] {message}")
    {
        ErrorCode = errorCode;
        OrtMessage = message;
    }

    public OrtErrorCode ErrorCode { get; }

    /// <summary>ORT's message without the code prefix.</summary>
    public string OrtMessage { get; }
}

/// <summary>The ONNX Runtime library could not be found or is unusable (missing, too old, wrong architecture).</summary>
public sealed class OrtLibraryException(string message, Exception? inner = null) : Exception(message, inner);
