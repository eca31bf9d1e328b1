using System.IO.Pipelines;
using Google.Protobuf;

namespace M2SNet.Edge.Grpc;

/// <summary>A stream of messages, read one at a time (the shape grpc-dotnet's readers have).</summary>
public interface IAsyncStreamReader<out T>
{
    T Current { get; }

    /// <summary>Advances to the next message; false when the other side has finished sending.</summary>
    Task<bool> MoveNext(CancellationToken cancellationToken = default);
}

public static class AsyncStreamReaderExtensions
{
    public static async IAsyncEnumerable<T> ReadAllAsync<T>(this IAsyncStreamReader<T> reader,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        while (await reader.MoveNext(cancellationToken).ConfigureAwait(false)) yield return reader.Current;
    }
}

/// <summary>
/// Reads length-prefixed messages from an HTTP/2 body, never buffering more than one message of at
/// most <c>maxMessageSize</c> bytes; a bad prefix or body becomes an <see cref="RpcException"/> naming it.
/// </summary>
internal sealed class MessageReader<T>(PipeReader body, MessageParser<T> parser, int maxMessageSize, StatusCode malformedStatus, string what)
    : IAsyncStreamReader<T> where T : IMessage<T>
{
    private T? _current;

    public T Current => _current ?? throw new InvalidOperationException("MoveNext has not returned true");

    public long MessagesRead { get; private set; }

    public async Task<bool> MoveNext(CancellationToken cancellationToken = default)
    {
        var message = await ReadAsync(cancellationToken).ConfigureAwait(false);
        _current = message;
        return message is not null;
    }

    public async ValueTask<T?> ReadAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            var result = await body.ReadAsync(cancellationToken).ConfigureAwait(false);
            var buffer = result.Buffer;
            if (Wire.TryReadPrefix(buffer, out var compressed, out var length))
            {
                if (compressed)
                {
                    body.AdvanceTo(buffer.Start);
                    throw new RpcException(StatusCode.Unimplemented, $"{what} is compressed; only uncompressed messages (grpc-encoding identity) are accepted");
                }
                if (length > (uint)maxMessageSize)
                {
                    body.AdvanceTo(buffer.Start);
                    throw new RpcException(StatusCode.ResourceExhausted,
                        $"{what} of {length} bytes exceeds the limit of {maxMessageSize} bytes");
                }
                var end = Wire.PrefixLength + (long)length;
                if (buffer.Length >= end)
                {
                    var payload = buffer.Slice(Wire.PrefixLength, length);
                    T message;
                    try
                    {
                        message = parser.ParseFrom(payload);
                    }
                    catch (InvalidProtocolBufferException e)
                    {
                        throw new RpcException(malformedStatus, $"{what} #{MessagesRead + 1} is not a valid {typeof(T).Name}: {e.Message}");
                    }
                    finally
                    {
                        body.AdvanceTo(buffer.GetPosition(end));
                    }
                    MessagesRead++;
                    return message;
                }
            }
            if (result.IsCompleted)
            {
                var left = buffer.Length;
                body.AdvanceTo(buffer.End);
                if (left == 0) return default;
                throw new RpcException(malformedStatus, $"the stream ended inside {what} #{MessagesRead + 1} ({left} bytes of it arrived)");
            }
            // Not a whole message yet: keep what is there and wait for more.
            body.AdvanceTo(buffer.Start, buffer.End);
        }
    }
}
