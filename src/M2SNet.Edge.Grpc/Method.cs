using Google.Protobuf;

namespace M2SNet.Edge.Grpc;

public enum MethodType
{
    Unary,
    ClientStreaming,
    ServerStreaming,
    DuplexStreaming,
}

/// <summary>
/// One RPC of a service, as the contract (<c>.proto</c>) defines it: its path on the wire is
/// <c>/package.Service/Method</c>. Client and server share the same descriptor.
/// </summary>
public sealed class Method<TRequest, TResponse>(MethodType type, string serviceName, string name)
    where TRequest : IMessage<TRequest>, new()
    where TResponse : IMessage<TResponse>, new()
{
    public MethodType Type { get; } = type;

    public string ServiceName { get; } = serviceName;

    public string Name { get; } = name;

    public string FullName { get; } = $"/{serviceName}/{name}";

    public MessageParser<TRequest> RequestParser { get; } = new(() => new TRequest());

    public MessageParser<TResponse> ResponseParser { get; } = new(() => new TResponse());

    public override string ToString() => FullName;
}
