using System.Text;
using Grpc.Core;
using Grpc.Core.Interceptors;

namespace M2SNet.Edge.Daemon.Services;

/// <summary>
/// Text a client sent (an upload id, a key, a service name) goes back into statuses and the log
/// only this long, so a client cannot make a status too large for its own metadata limit.
/// </summary>
public static class ClientText
{
    /// <summary>Characters of one piece of client text that are quoted back.</summary>
    public const int MaxQuoted = 128;

    /// <summary>Bytes of a status message (grpc-message), far under the 8 KiB clients accept for all metadata.</summary>
    public const int MaxStatusBytes = 1024;

    /// <summary>The text, or its first <see cref="MaxQuoted"/> characters and how many more there were.</summary>
    public static string Quote(string? text)
    {
        if (string.IsNullOrEmpty(text)) return "";
        return text.Length <= MaxQuoted ? text : $"{text[..MaxQuoted]}… ({text.Length - MaxQuoted} more characters)";
    }

    /// <summary>A status message cut to <see cref="MaxStatusBytes"/> of UTF-8, on a character boundary.</summary>
    public static string CapStatus(string detail)
    {
        if (Encoding.UTF8.GetByteCount(detail) <= MaxStatusBytes) return detail;
        // Room for the note that says how much was cut.
        const int budget = MaxStatusBytes - 40;
        int bytes = 0, keep = 0;
        foreach (var rune in detail.EnumerateRunes())
        {
            if (bytes + rune.Utf8SequenceLength > budget) break;
            bytes += rune.Utf8SequenceLength;
            keep += rune.Utf16SequenceLength;
        }
        return $"{detail[..keep]}… (cut: {detail.Length - keep} more characters)";
    }
}

/// <summary>Every service's statuses pass through <see cref="ClientText.CapStatus"/>.</summary>
public sealed class StatusCapInterceptor : Interceptor
{
    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context,
        UnaryServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            return await continuation(request, context).ConfigureAwait(false);
        }
        catch (RpcException e) when (Capped(e) is { } capped)
        {
            throw capped;
        }
    }

    public override async Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream,
        ServerCallContext context, ClientStreamingServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            return await continuation(requestStream, context).ConfigureAwait(false);
        }
        catch (RpcException e) when (Capped(e) is { } capped)
        {
            throw capped;
        }
    }

    public override async Task ServerStreamingServerHandler<TRequest, TResponse>(TRequest request, IServerStreamWriter<TResponse> responseStream,
        ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            await continuation(request, responseStream, context).ConfigureAwait(false);
        }
        catch (RpcException e) when (Capped(e) is { } capped)
        {
            throw capped;
        }
    }

    public override async Task DuplexStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream,
        IServerStreamWriter<TResponse> responseStream, ServerCallContext context, DuplexStreamingServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            await continuation(requestStream, responseStream, context).ConfigureAwait(false);
        }
        catch (RpcException e) when (Capped(e) is { } capped)
        {
            throw capped;
        }
    }

    private static RpcException? Capped(RpcException e)
    {
        var detail = e.Status.Detail ?? "";
        var capped = ClientText.CapStatus(detail);
        return ReferenceEquals(capped, detail) ? null : new RpcException(new Status(e.StatusCode, capped), e.Trailers);
    }
}
