namespace M2SNet.Edge.Grpc;

/// <summary>The gRPC status codes (values fixed by the gRPC specification).</summary>
public enum StatusCode
{
    OK = 0,
    Cancelled = 1,
    Unknown = 2,
    InvalidArgument = 3,
    DeadlineExceeded = 4,
    NotFound = 5,
    AlreadyExists = 6,
    PermissionDenied = 7,
    ResourceExhausted = 8,
    FailedPrecondition = 9,
    Aborted = 10,
    OutOfRange = 11,
    Unimplemented = 12,
    Internal = 13,
    Unavailable = 14,
    DataLoss = 15,
    Unauthenticated = 16,
}

/// <summary>The outcome of a call: a code and a human-readable reason.</summary>
public readonly record struct Status(StatusCode StatusCode, string Detail)
{
    public static Status Ok { get; } = new(StatusCode.OK, "");

    public override string ToString() => Detail.Length == 0 ? $"{StatusCode}" : $"{StatusCode}: {Detail}";
}

/// <summary>A call that ended with a status other than OK; thrown by clients, and by handlers to end a call with that status.</summary>
public sealed class RpcException(Status status, Exception? inner = null) : Exception(status.ToString(), inner)
{
    public RpcException(StatusCode code, string detail) : this(new Status(code, detail))
    {
    }

    public Status Status { get; } = status;

    public StatusCode StatusCode => Status.StatusCode;
}
