using System.Buffers;
using System.Text.Json;
using M2SNet.Edge.Daemon.Configuration;
using M2SNet.Edge.Daemon.Observability;
using M2SNet.Edge.Daemon.Streaming;
using M2SNet.Edge.Protocol.V1;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace M2SNet.Edge.Daemon.Services;

/// <summary>
/// The OR web view for tablets and monitors without a native client, on the plain HTTP endpoint:
/// a static page (<c>/view/</c>, files in wwwroot/view) fed by server-sent events
/// (<c>/view/stream</c>): one event per segmented frame with the JPEG frame, the mask as PNG and
/// the timestamps, from the same publisher and shared encodings as the gRPC clients (a browser
/// that falls behind loses frames, never delays anyone).
/// </summary>
public sealed class WebView(IOptions<DaemonOptions> options, MaskPublisher publisher, DaemonState state, IHostApplicationLifetime lifetime, ILogger<WebView> log)
{
    private static readonly Dictionary<string, string> s_files = new()
    {
        ["index.html"] = "text/html; charset=utf-8",
        ["view.js"] = "text/javascript; charset=utf-8",
        ["view.css"] = "text/css; charset=utf-8",
        ["login.html"] = "text/html; charset=utf-8",
    };

    private static readonly string s_root = Path.Combine(AppContext.BaseDirectory, "wwwroot", "view");

    /// <summary>
    /// Maps the page, its login and its stream; the view itself is made at the first stream request
    /// (after the options were validated). Off this machine the page and stream need https and a
    /// client certificate or a login with the video token (<see cref="VideoAccess"/>).
    /// </summary>
    public static void MapTo(IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet("/", () => Results.Redirect("/view/"));
        // "/view" and "/view/" are one route; the page's relative URLs need the slash.
        endpoints.MapGet("/view/", (HttpContext http, VideoAccess access) =>
            http.Request.Path.Value?.EndsWith('/') != true ? Results.Redirect("/view/")
            : access.Allows(http, out var refusal) ? StaticFile("index.html")
            : http.Request.IsHttps ? Results.Redirect("/view/login")
            : Results.Text(refusal + "\n", statusCode: StatusCodes.Status403Forbidden));
        endpoints.MapGet("/view/login", (HttpContext http) => LoginPage(http, "", StatusCodes.Status200OK));
        endpoints.MapPost("/view/login", Login);
        endpoints.MapGet("/view/{name}", (string name) => name is "stream" or "index.html" or "login.html" ? Results.NotFound() : StaticFile(name));
        endpoints.MapGet("/view/stream", (HttpContext http, WebView view, VideoAccess access) =>
            access.Allows(http, out var refusal) ? view.Stream(http)
            : Refuse(http, refusal, http.Request.IsHttps ? StatusCodes.Status401Unauthorized : StatusCodes.Status403Forbidden));
    }

    private static IResult StaticFile(string name) =>
        s_files.TryGetValue(name, out var type) && System.IO.File.Exists(Path.Combine(s_root, name))
            ? Results.File(System.IO.File.ReadAllBytes(Path.Combine(s_root, name)), type)
            : Results.NotFound();

    private static Task Refuse(HttpContext http, string refusal, int status)
    {
        http.Response.StatusCode = status;
        return http.Response.WriteAsync(refusal + "\n");
    }

    private static IResult LoginPage(HttpContext http, string message, int status)
    {
        if (!http.Request.IsHttps && !NetworkCaller.Of(http, null).Local)
        {
            return Results.Text("the login is served to the network only over https: a token sent in plain text would be readable on the OR network\n",
                statusCode: StatusCodes.Status403Forbidden);
        }
        var page = System.IO.File.ReadAllText(Path.Combine(s_root, "login.html"));
        if (message.Length > 0) page = page.Replace("<!--message-->", $"<p class=\"error\" role=\"alert\">{System.Net.WebUtility.HtmlEncode(message)}</p>", StringComparison.Ordinal);
        return Results.Content(page, s_files["login.html"], statusCode: status);
    }

    /// <summary>POST /view/login (form field "token"): a session cookie and back to the page, or the login page again with the reason.</summary>
    private static async Task<IResult> Login(HttpContext http, VideoAccess access)
    {
        if (!http.Request.IsHttps && !NetworkCaller.Of(http, null).Local) return LoginPage(http, "", StatusCodes.Status403Forbidden);
        if (http.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit) limit.MaxRequestBodySize = 4096;
        string token;
        try
        {
            if (!http.Request.HasFormContentType) return LoginPage(http, "the login is a form post", StatusCodes.Status400BadRequest);
            var form = await http.Request.ReadFormAsync(http.RequestAborted).ConfigureAwait(false);
            token = form["token"].ToString();
        }
        catch (Exception e) when (e is InvalidDataException or IOException or Microsoft.AspNetCore.Http.BadHttpRequestException)
        {
            return LoginPage(http, "the login form could not be read", StatusCodes.Status400BadRequest);
        }
        var session = access.StartSession(http.Connection.RemoteIpAddress, token, out var refusal);
        if (session is null) return LoginPage(http, refusal, refusal.StartsWith("too many", StringComparison.Ordinal) ? StatusCodes.Status429TooManyRequests : StatusCodes.Status401Unauthorized);
        http.Response.Cookies.Append(VideoAccess.CookieName, session, new CookieOptions
        {
            HttpOnly = true,
            Secure = http.Request.IsHttps,
            SameSite = SameSiteMode.Strict,
            Path = "/view",
            MaxAge = access.SessionLifetime,
        });
        return Results.Redirect("/view/");
    }

    private async Task Stream(HttpContext http)
    {
        using var stopping = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted, lifetime.ApplicationStopping);
        var cancel = stopping.Token;
        http.Response.Headers.ContentType = "text/event-stream";
        http.Response.Headers.CacheControl = "no-cache";
        http.Response.Headers["X-Accel-Buffering"] = "no";
        // Tell the browser to come back after 2 s if the connection drops (EventSource reconnects by itself).
        await http.Response.WriteAsync("retry: 2000\n\n", cancel).ConfigureAwait(false);
        await http.Response.Body.FlushAsync(cancel).ConfigureAwait(false);
        // No model or no video yet: the page shows why until frames flow.
        while (!state.Serving)
        {
            await Status(http, state.NotServingReason is { Length: > 0 } why ? why : state.Reason, cancel).ConfigureAwait(false);
            await Task.WhenAny(state.Changed, Task.Delay(TimeSpan.FromSeconds(2), cancel)).ConfigureAwait(false);
            cancel.ThrowIfCancellationRequested();
        }
        var peer = $"{http.Connection.RemoteIpAddress}:{http.Connection.RemotePort}";
        var mask = ClientMaskOptions.Resolve(new MaskOptions { Encoding = MaskEncoding.Png, IncludeFrameJpeg = true, JpegQuality = 70 },
            options.Value.Stream, options.Value.Limits);
        Subscriber subscriber;
        try
        {
            subscriber = publisher.Subscribe($"web-view {peer}", peer, mask);
        }
        catch (global::Grpc.Core.RpcException e)
        {
            await Status(http, e.Status.Detail, cancel).ConfigureAwait(false);
            return;
        }
        using (subscriber)
        {
            log.LogInformation("Web view client {Peer} connected", peer);
            var buffer = new System.Buffers.ArrayBufferWriter<byte>(256 * 1024);
            try
            {
                using var ended = CancellationTokenSource.CreateLinkedTokenSource(cancel, subscriber.Evicted);
                while (await subscriber.NextAsync(ended.Token).ConfigureAwait(false) is { } lease)
                {
                    using (lease)
                    {
                        var m = MaskEncoder.Encode(lease.Result, lease.PublishedNs, mask, lease.Result.Sequence, subscriber.Dropped, subscriber.Skipped);
                        buffer.ResetWrittenCount();
                        Event(buffer, m);
                        using (subscriber.Writing())
                        {
                            await http.Response.Body.WriteAsync(buffer.WrittenMemory, cancel).ConfigureAwait(false);
                            await http.Response.Body.FlushAsync(cancel).ConfigureAwait(false);
                        }
                        subscriber.CountSent();
                    }
                }
            }
            catch (Exception e) when (e is OperationCanceledException or IOException && cancel.IsCancellationRequested)
            {
            }
            catch (OperationCanceledException) when (subscriber.EndStatus is { } ended)
            {
                // The video was lost or this view made room for another: the page says why, and its
                // EventSource comes back after the retry interval (told how things stand then).
                await Status(http, ended.Detail, cancel).ConfigureAwait(false);
            }
            log.LogInformation("Web view client {Peer} left after {Sent} frames", peer, subscriber.Sent);
        }
    }

    private static async Task Status(HttpContext http, string text, CancellationToken cancel)
    {
        await http.Response.WriteAsync($"event: status\ndata: {JsonSerializer.Serialize(text)}\n\n", cancel).ConfigureAwait(false);
        await http.Response.Body.FlushAsync(cancel).ConfigureAwait(false);
    }

    /// <summary>One server-sent event: <c>data: {json}</c> and a blank line.</summary>
    private static void Event(System.Buffers.ArrayBufferWriter<byte> buffer, MaskMessage m)
    {
        buffer.Write("data: "u8);
        using (var json = new Utf8JsonWriter(buffer))
        {
            var t = m.Timestamps;
            json.WriteStartObject();
            json.WriteNumber("seq", m.Sequence);
            json.WriteNumber("capture_unix_ms", t.CaptureUnixNs / 1e6);
            json.WriteNumber("send_unix_ms", t.SendUnixNs / 1e6);
            json.WriteNumber("capture_to_send_ms", (t.SendNs - t.CaptureNs) / 1e6);
            json.WriteNumber("inference_ms", m.Stages.InferenceUs / 1e3);
            json.WriteString("model", $"{m.Model.Id} {m.Model.Version}");
            json.WriteBoolean("overlay", m.OverlayEnabled);
            json.WriteBoolean("frozen", m.Frozen);
            json.WriteNumber("dropped", m.DroppedFrames);
            json.WriteNumber("skipped", m.SkippedFrames);
            json.WriteNumber("foreground", m.Mask?.ForegroundPixels ?? 0);
            json.WriteBase64String("jpeg", m.FrameJpeg.Span);
            if (m.Mask is { } encoded) json.WriteBase64String("mask", encoded.Data.Span);
            json.WriteEndObject();
        }
        buffer.Write("\n\n"u8);
    }
}
