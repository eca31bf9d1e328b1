namespace M2SNet.Edge.Torch;

/// <summary>An error libtorch reported (shape mismatch, device mismatch, out of memory, ...).</summary>
public sealed class TorchException(string message) : Exception(message);
