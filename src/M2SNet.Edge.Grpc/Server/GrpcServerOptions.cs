namespace M2SNet.Edge.Grpc.Server;

/// <summary>Transport limits of the gRPC server, set explicitly by the host.</summary>
public sealed class GrpcServerOptions
{
    /// <summary>Largest request message accepted; larger ones end the call with RESOURCE_EXHAUSTED before they are buffered.</summary>
    public int MaxReceiveMessageSize { get; set; } = Wire.DefaultMaxReceiveMessageSize;

    /// <summary>Largest response message sent; a handler producing a larger one gets RESOURCE_EXHAUSTED.</summary>
    public int MaxSendMessageSize { get; set; } = 64 * 1024 * 1024;
}
