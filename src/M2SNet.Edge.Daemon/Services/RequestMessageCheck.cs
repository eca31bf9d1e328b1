using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.IO.Compression;
using System.Reflection;
using Google.Protobuf;
using Grpc.AspNetCore.Server;
using Grpc.Core;
using Microsoft.AspNetCore.Http;

namespace M2SNet.Edge.Daemon.Services;

/// <summary>
/// Checks each request message of a gRPC call as it arrives, before Grpc.AspNetCore parses it:
/// the compressed flag is 0, or 1 with a grpc-encoding; the bytes are a valid request of the
/// method (after gzip, when gzip is the encoding); a method that takes one request gets one; the
/// body does not end inside a message. Grpc.AspNetCore answers each of these with INTERNAL
/// ("Incomplete message.") or UNKNOWN ("Exception was thrown by handler."), which say the daemon
/// failed; they are the client's mistakes, so they are INVALID_ARGUMENT with the reason (found by
/// the fuzz suite, issue 17).
/// </summary>
internal sealed class RequestMessageCheck
{
    private const string SegmentMethod = "/m2snet.edge.v1.Segmentation/Segment";
    private static readonly ConcurrentDictionary<Type, MessageParser?> s_parsers = new();
    private readonly MessageParser? _parser;
    private readonly string _requestName;
    private readonly bool _oneRequest;
    private readonly string? _encoding;
    private readonly int _maxMessageBytes;
    private int _consumed;

    private RequestMessageCheck(IMethod method, Type requestType, string? encoding, int maxMessageBytes)
    {
        // Segment's frames (a raw 1080p frame is 6 MB) are parsed and decompressed once, by the service,
        // which names the frame that does not parse: doing it here as well would copy every frame twice.
        _parser = method.FullName == SegmentMethod ? null
            : s_parsers.GetOrAdd(requestType, t => t.GetProperty("Parser", BindingFlags.Public | BindingFlags.Static)?.GetValue(null) as MessageParser);
        _requestName = requestType.Name;
        _oneRequest = method.Type is MethodType.Unary or MethodType.ServerStreaming;
        _encoding = encoding;
        _maxMessageBytes = maxMessageBytes;
    }

    /// <summary>The check for the gRPC method the call was routed to; null for anything else (an unknown method gets UNIMPLEMENTED as it is).</summary>
    public static RequestMessageCheck? For(HttpContext context, int maxMessageBytes)
    {
        if (context.GetEndpoint()?.Metadata.GetMetadata<GrpcMethodMetadata>()?.Method is not { } method) return null;
        // Method<TRequest, TResponse> is what the generated code and Grpc.AspNetCore register.
        var type = method.GetType();
        if (!type.IsGenericType || type.GetGenericArguments() is not [var request, _]) return null;
        var encoding = context.Request.Headers["grpc-encoding"].ToString();
        return new RequestMessageCheck(method, request, encoding.Length == 0 ? null : encoding, maxMessageBytes);
    }

    /// <summary>A message was consumed: Grpc.AspNetCore takes them whole, one at a time.</summary>
    public void Consumed() => _consumed++;

    /// <summary>
    /// Checks the body not yet consumed, which begins where a message begins; throws INVALID_ARGUMENT
    /// for a message that is wrong, and lets an incomplete one wait for its bytes unless the body has ended.
    /// </summary>
    public void Check(ReadOnlySequence<byte> unconsumed, bool bodyEnded)
    {
        var n = _consumed + 1;
        if (unconsumed.IsEmpty)
        {
            if (bodyEnded && _oneRequest && _consumed == 0) throw Invalid("this method takes one request message; the request had none");
            return;
        }
        if (_oneRequest && _consumed > 0) throw Invalid($"this method takes one request message; more bytes came after it ({unconsumed.Length} bytes)");
        if (unconsumed.Length < 5)
        {
            if (bodyEnded) throw Invalid($"the request ended inside the 5-byte prefix of message #{n} ({unconsumed.Length} bytes came)");
            return;
        }
        Span<byte> prefix = stackalloc byte[5];
        unconsumed.Slice(0, 5).CopyTo(prefix);
        var flag = prefix[0];
        var length = BinaryPrimitives.ReadUInt32BigEndian(prefix[1..]);
        if (flag > 1) throw Invalid($"message #{n} has compressed flag {flag}; it must be 0 (plain) or 1 (compressed with the call's grpc-encoding)");
        if (flag == 1 && _encoding is null or "identity") throw Invalid($"message #{n} is marked compressed, but the call names no grpc-encoding");
        // Refused from its prefix, before it is buffered (as Grpc.AspNetCore does, which takes a prefix over 2 GiB for an error of its own).
        if (length > _maxMessageBytes)
        {
            throw new RpcException(new Status(StatusCode.ResourceExhausted,
                $"message #{n} announces {length} bytes, over the limit of {_maxMessageBytes} bytes (Daemon:Limits:MaxReceiveMessageBytes)"));
        }
        if (unconsumed.Length - 5 < length)
        {
            if (bodyEnded) throw Invalid($"the request ended inside message #{n} ({unconsumed.Length - 5} of the {length} bytes its prefix announced)");
            return;
        }
        if (_oneRequest && unconsumed.Length - 5 > length)
        {
            throw Invalid($"this method takes one request message; {unconsumed.Length - 5 - length} more bytes came after it");
        }
        // Another encoding than gzip is refused by Grpc.AspNetCore with UNIMPLEMENTED and the encodings it takes.
        if (_parser is null || (flag == 1 && _encoding != "gzip")) return;
        var body = unconsumed.Slice(5, length);
        try
        {
            if (flag == 0) _parser.ParseFrom(body);
            else if (Gunzip(body) is { } plain) _parser.ParseFrom(plain);
        }
        catch (Exception e) when (e is InvalidProtocolBufferException or InvalidDataException)
        {
            throw Invalid($"message #{n} is not a valid {_requestName}{(flag == 1 ? " after gzip" : "")}: {e.Message}");
        }
    }

    /// <summary>The decompressed message; null when it inflates past the size limit (Grpc.AspNetCore refuses it with RESOURCE_EXHAUSTED).</summary>
    private byte[]? Gunzip(ReadOnlySequence<byte> compressed)
    {
        using var gzip = new GZipStream(new MemoryStream(compressed.ToArray()), CompressionMode.Decompress);
        using var plain = new MemoryStream();
        var buffer = new byte[81920];
        int read;
        while ((read = gzip.Read(buffer)) > 0)
        {
            plain.Write(buffer, 0, read);
            if (plain.Length > _maxMessageBytes) return null;
        }
        return plain.ToArray();
    }

    private static RpcException Invalid(string reason) => new(new Status(StatusCode.InvalidArgument, reason));
}
