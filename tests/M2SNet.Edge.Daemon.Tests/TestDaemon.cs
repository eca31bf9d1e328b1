using Grpc.Health.V1;
using M2SNet.Edge.Daemon;
using M2SNet.Edge.Daemon.Configuration;
using Grpc.Core;
using M2SNet.Edge.Protocol;
using M2SNet.Edge.Protocol.V1;
using M2SNet.Edge.Synthetic;
using Microsoft.AspNetCore.Builder;

namespace M2SNet.Edge.Daemon.Tests;

/// <summary>The test clip: 640x360 at 30 fps, made once per test run.</summary>
public static class TestVideo
{
    public const int Width = 640;
    public const int Height = 360;

    private static readonly Lazy<string> s_path = new(() =>
    {
        var path = Path.Combine(Path.GetTempPath(), $"m2s-daemon-tests-{Environment.ProcessId}", "clip.mp4");
        SampleVideo.Write(path, seed: 11, seconds: 4, fps: 30, width: Width, height: Height);
        return path;
    });

    public static string Path_ => s_path.Value;
}

/// <summary>
/// The real daemon, composed as the program composes it (DaemonHost.Build), on free loopback
/// ports, with the bundled demo model.
/// </summary>
public sealed class TestDaemon : IAsyncDisposable
{
    private TestDaemon(WebApplication app, string grpc, string http, DaemonConnectionOptions? channelOptions)
    {
        App = app;
        GrpcAddress = grpc;
        HttpAddress = http;
        Channel = DaemonConnection.Open(grpc, channelOptions);
        Client = Channel.Segmentation;
        Health = Channel.Health;
        Admin = Channel.Admin;
        Http = new HttpClient(Trusting(channelOptions?.TrustedCertificate)) { BaseAddress = new Uri(http) };
    }

    public WebApplication App { get; }

    /// <summary>A handler that trusts <paramref name="ca"/> for https (the system's store when null).</summary>
    public static SocketsHttpHandler Trusting(System.Security.Cryptography.X509Certificates.X509Certificate2? ca, SocketsHttpHandler? handler = null)
    {
        handler ??= new SocketsHttpHandler();
        if (ca is null) return handler;
        handler.SslOptions.RemoteCertificateValidationCallback = DaemonConnection.Trusting(ca);
        return handler;
    }

    public string GrpcAddress { get; }

    public string HttpAddress { get; }

    /// <summary>host:port of the gRPC endpoint, as grpc-js wants it.</summary>
    public string GrpcHostPort => new Uri(GrpcAddress).Authority;

    public DaemonConnection Channel { get; }

    public Segmentation.SegmentationClient Client { get; }

    public Health.HealthClient Health { get; }

    public ModelAdmin.ModelAdminClient Admin { get; }

    public HttpClient Http { get; }

    public static Dictionary<string, string?> Defaults() => new()
    {
        ["Daemon:Source:Uri"] = TestVideo.Path_,
        ["Daemon:Endpoints:Grpc"] = "http://127.0.0.1:0",
        ["Daemon:Endpoints:Http"] = "http://127.0.0.1:0",
        // One model: among alternatives the daemon keeps the fastest, and tests do not depend on speed.
        ["Daemon:Model:Path"] = "models/m2snet-s-demo.onnx",
        ["Daemon:Model:Threads"] = "1",
        ["Daemon:Model:WarmupRuns"] = "1",
        ["Logging:LogLevel:Default"] = "Warning",
    };

    /// <summary>Starts a daemon; <paramref name="settings"/> are applied over <see cref="Defaults"/> (a null value removes a default).</summary>
    public static async Task<TestDaemon> StartAsync(IReadOnlyDictionary<string, string?>? settings = null, string[]? args = null,
        bool waitUntilServing = true, DaemonConnectionOptions? channelOptions = null)
    {
        var all = Defaults();
        // Each daemon keeps its models, active choice and audit log in its own folder unless a test shares one.
        all["Daemon:Models:StateDirectory"] = Directory.CreateTempSubdirectory("m2s-state-").FullName;
        foreach (var (k, v) in settings ?? new Dictionary<string, string?>()) all[k] = v;
        // A folder that does not hold /etc/m2snet-edge's files, so this machine's configuration cannot leak in.
        var firmware = Directory.CreateTempSubdirectory("m2s-firmware-").FullName;
        var app = DaemonHost.Build(DaemonCommandLine.Parse([.. args ?? [], "--firmware-config", firmware]),
            all.Where(kv => kv.Value is not null));
        await DaemonHost.StartAsync(app);
        // A daemon on every interface (0.0.0.0) is reached here through loopback.
        var addresses = DaemonHost.BoundAddresses(app).Select(a => a.Replace("://0.0.0.0:", "://127.0.0.1:", StringComparison.Ordinal).Replace("://[::]:", "://127.0.0.1:", StringComparison.Ordinal)).ToList();
        var daemon = new TestDaemon(app, addresses[0], addresses.Count > 1 ? addresses[1] : "http://127.0.0.1:1", channelOptions);
        if (waitUntilServing) await daemon.WaitUntilServingAsync();
        return daemon;
    }

    public async Task WaitUntilServingAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        using var watch = Health.Watch(new HealthCheckRequest(), new CallOptions(cancellationToken: timeout.Token));
        while (await watch.ResponseStream.MoveNext(timeout.Token))
        {
            if (watch.ResponseStream.Current.Status == HealthCheckResponse.Types.ServingStatus.Serving) return;
        }
        throw new InvalidOperationException("the daemon never became SERVING");
    }

    /// <summary>The value of one Prometheus sample, e.g. <c>m2s_client_frames_dropped_total{client="x"</c>…; null when absent.</summary>
    public async Task<double?> MetricAsync(string name, string? labelContains = null)
    {
        var text = await Http.GetStringAsync("/metrics");
        foreach (var line in text.Split('\n'))
        {
            if (line.StartsWith('#') || !line.StartsWith(name, StringComparison.Ordinal)) continue;
            var rest = line[name.Length..];
            if (rest.Length > 0 && rest[0] != ' ' && rest[0] != '{') continue;
            if (labelContains is not null && !rest.Contains(labelContains, StringComparison.Ordinal)) continue;
            return double.Parse(line[(line.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture);
        }
        return null;
    }

    public async ValueTask DisposeAsync()
    {
        Channel.Dispose();
        Http.Dispose();
        await App.StopAsync();
        await App.DisposeAsync();
    }
}

/// <summary>One daemon shared by the tests of a class.</summary>
public sealed class DaemonFixture : IAsyncLifetime
{
    public TestDaemon Daemon { get; private set; } = null!;

    public async ValueTask InitializeAsync() => Daemon = await TestDaemon.StartAsync(new Dictionary<string, string?>
    {
        ["Daemon:Limits:MaxReceiveMessageBytes"] = (8 * 1024 * 1024).ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Daemon:Limits:MaxFrameWidth"] = "1920",
        ["Daemon:Limits:MaxFrameHeight"] = "1080",
    });

    public ValueTask DisposeAsync() => Daemon.DisposeAsync();
}

public static class StatusAssert
{
    public static async Task<RpcException> ThrowsAsync(StatusCode code, Func<Task> call, string? detailContains = null)
    {
        var e = await Assert.ThrowsAsync<RpcException>(call);
        Assert.True(e.StatusCode == code, $"expected {code}, got {e.Status}");
        if (detailContains is not null) Assert.Contains(detailContains, e.Status.Detail);
        return e;
    }

    public static Task<RpcException> ThrowsAsync<T>(StatusCode code, Func<AsyncUnaryCall<T>> call, string? detailContains = null) =>
        ThrowsAsync(code, () => call().ResponseAsync, detailContains);
}

public static class Masks
{
    public static byte[] Unpack(ReadOnlySpan<byte> packed, int width, int height)
    {
        var mask = new byte[width * height];
        MaskCodec.UnpackBits(packed, width, height, mask);
        return mask;
    }

    public static byte[] Rle(IReadOnlyList<uint> counts, int width, int height)
    {
        var mask = new byte[width * height];
        MaskCodec.DecodeRle([.. counts], width, height, mask);
        return mask;
    }

    public static M2SNet.Edge.OpenCv.Mat Solid(int rows, int cols)
    {
        var m = new M2SNet.Edge.OpenCv.Mat(rows, cols, M2SNet.Edge.OpenCv.MatType.CV_8UC3);
        m.SetTo(new M2SNet.Edge.OpenCv.Scalar(40, 80, 160));
        return m;
    }
}

/// <summary>The gRPC message framing (a compressed flag and a big-endian length, then the bytes), for tests that speak raw HTTP/2.</summary>
public static class GrpcWire
{
    public static byte[] Frame(Google.Protobuf.IMessage message) => Frame(Google.Protobuf.MessageExtensions.ToByteArray(message), compressed: false);

    public static byte[] Frame(byte[] payload, bool compressed)
    {
        var framed = new byte[5 + payload.Length];
        framed[0] = compressed ? (byte)1 : (byte)0;
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(framed.AsSpan(1), (uint)payload.Length);
        payload.CopyTo(framed, 5);
        return framed;
    }

    /// <summary>A raw gRPC request over HTTP/2 to <paramref name="address"/><paramref name="path"/>, content type application/grpc unless set.</summary>
    public static HttpRequestMessage Request(string address, string path, HttpContent content)
    {
        content.Headers.ContentType ??= new System.Net.Http.Headers.MediaTypeHeaderValue("application/grpc");
        var request = new HttpRequestMessage(HttpMethod.Post, address + path)
        {
            Content = content, Version = System.Net.HttpVersion.Version20, VersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
        request.Headers.TryAddWithoutValidation("te", "trailers");
        return request;
    }

    /// <summary>grpc-status from the trailers, or from the headers of a trailers-only answer.</summary>
    public static string? Status(HttpResponseMessage response) =>
        response.TrailingHeaders.TryGetValues("grpc-status", out var t) ? t.First()
        : response.Headers.TryGetValues("grpc-status", out var h) ? h.First() : null;
}
