using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace M2SNet.Edge.Daemon.Services;

/// <summary>
/// A gRPC call that ends before the client finished sending (a refused frame, a message over the
/// limit, an admin call without credentials) leaves its HTTP/2 stream half open. Kestrel keeps
/// such streams counted until the client's END_STREAM, and once about 200 pile up on a connection
/// it refuses new streams there with ENHANCE_YOUR_CALM, valid calls included (the case of
/// grpc-dotnet issue 2010). So after such a call this sends the status at once, then reads and
/// discards what the client still sends, up to its END_STREAM, for a bounded time.
/// </summary>
public sealed class EarlyEndDrain(RequestDelegate next, ILogger<EarlyEndDrain> log)
{
    /// <summary>How long a client gets, after its status, to finish sending.</summary>
    public static readonly TimeSpan Window = TimeSpan.FromSeconds(5);

    public async Task InvokeAsync(HttpContext http)
    {
        await next(http).ConfigureAwait(false);
        if (!IsGrpc(http) || http.RequestAborted.IsCancellationRequested) return;
        // A message refused for its size is left unread by design (its bytes are what the limit keeps
        // out); Kestrel resets that stream, and the status is already on its way.
        if (Status(http) == ResourceExhausted) return;
        try
        {
            var body = http.Request.BodyReader;
            if (body.TryRead(out var ready))
            {
                var completed = ready.IsCompleted;
                body.AdvanceTo(ready.Buffer.End);
                if (completed) return;
            }
            // The status (trailers) goes out now; the client is not kept waiting for the drain.
            await http.Response.CompleteAsync().ConfigureAwait(false);
            using var window = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted);
            window.CancelAfter(Window);
            // Bounded by time only: stopping at a byte count while the client still sends would have
            // Kestrel see data on a stream it closed, which ends the whole connection.
            while (!window.IsCancellationRequested)
            {
                var result = await body.ReadAsync(window.Token).ConfigureAwait(false);
                body.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted || result.IsCanceled) return;
            }
        }
        catch (OperationCanceledException) when (!http.RequestAborted.IsCancellationRequested)
        {
            log.LogDebug("{Path}: the client kept sending after its call ended; its stream is reset", http.Request.Path);
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or InvalidOperationException
                                      or Microsoft.AspNetCore.Connections.ConnectionAbortedException or BadHttpRequestException)
        {
            // The client reset the stream, went away, or kept sending past the window: Kestrel resets it.
        }
    }

    private const string ResourceExhausted = "8";

    private static string? Status(HttpContext http)
    {
        var trailers = http.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpResponseTrailersFeature>()?.Trailers;
        if (trailers is not null && trailers.TryGetValue("grpc-status", out var status)) return status.ToString();
        return http.Response.Headers.TryGetValue("grpc-status", out var header) ? header.ToString() : null;
    }

    private static bool IsGrpc(HttpContext http) =>
        http.Request.ContentType is { } type && type.StartsWith("application/grpc", StringComparison.OrdinalIgnoreCase);
}
