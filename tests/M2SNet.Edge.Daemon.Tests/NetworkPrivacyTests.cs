using System.Net;
using System.Security.Cryptography.X509Certificates;
using Grpc.Core;
using M2SNet.Edge.Deployment;
using M2SNet.Edge.Protocol;
using M2SNet.Edge.Protocol.V1;
using M2SNet.Edge.TestSupport;

namespace M2SNet.Edge.Daemon.Tests;

/// <summary>
/// A daemon on https with the site PKI of <c>m2s tls init</c>, as the appliance profile runs it,
/// listening on every address; callers come from another network namespace (a host of its own
/// on this machine) or from loopback.
/// </summary>
public sealed class PrivateDaemonFixture : IAsyncLifetime
{
    public NetworkNamespace Network { get; private set; } = null!;

    public SitePki Pki { get; private set; } = null!;

    public TestDaemon Daemon { get; private set; } = null!;

    public string? WhyNot { get; private set; }

    public string VideoToken => File.ReadAllText(Pki.VideoTokenPath).Trim();

    public X509Certificate2 Ca => X509CertificateLoader.LoadCertificateFromFile(Pki.CaCertificatePath);

    /// <summary>The daemon's gRPC endpoint as a caller in the namespace dials it.</summary>
    public string GrpcFromNetwork => Daemon.GrpcAddress.Replace("127.0.0.1", Network.HostAddress.ToString(), StringComparison.Ordinal);

    public string HttpFromNetwork => Daemon.HttpAddress.Replace("127.0.0.1", Network.HostAddress.ToString(), StringComparison.Ordinal);

    public async ValueTask InitializeAsync()
    {
        if (NetworkNamespace.TryCreate(out var whyNot) is not { } network)
        {
            WhyNot = whyNot;
            return;
        }
        Network = network;
        Pki = new SitePki(Path.Combine(Directory.CreateTempSubdirectory("m2s-tls-").FullName, "tls"));
        Pki.Initialize(["localhost"], [IPAddress.Loopback, network.HostAddress]);
        Daemon = await TestDaemon.StartAsync(Settings(Pki, "https"), channelOptions: new DaemonConnectionOptions { TrustedCertificate = Ca });
    }

    /// <summary>The appliance profile's settings (firmware-config/appsettings.json) with this PKI's files and free ports.</summary>
    public static Dictionary<string, string?> Settings(SitePki pki, string scheme) => new()
    {
        ["Daemon:Endpoints:Grpc"] = $"{scheme}://0.0.0.0:0",
        ["Daemon:Endpoints:Http"] = $"{scheme}://0.0.0.0:0",
        ["Daemon:Tls:CertificatePath"] = pki.ServerCertificatePath,
        ["Daemon:Tls:KeyPath"] = pki.ServerKeyPath,
        ["Daemon:Tls:ClientCaPath"] = pki.CaCertificatePath,
        ["Daemon:Video:TokenFile"] = pki.VideoTokenPath,
    };

    public async ValueTask DisposeAsync()
    {
        if (Daemon is not null) await Daemon.DisposeAsync();
        Network?.Dispose();
    }
}

/// <summary>
/// Patient video stays off the open network (issue 17): from another host, frames and masks need
/// TLS and a client certificate from the site CA or the video token; loopback stays open; what
/// tells nothing about a patient (GetInfo, health) stays open.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class NetworkPrivacyTests(PrivateDaemonFixture fixture) : IClassFixture<PrivateDaemonFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private void RequireNetwork()
    {
        if (fixture.WhyNot is { } why) Assert.Skip($"no second host on this machine: {why}");
    }

    private DaemonConnection FromNetwork(IReadOnlyDictionary<string, string>? headers = null, X509Certificate2? certificate = null) =>
        DaemonConnection.Open(fixture.GrpcFromNetwork, new DaemonConnectionOptions
        {
            TrustedCertificate = fixture.Ca,
            ClientCertificate = certificate,
            Headers = headers,
            ConnectCallback = (context, ct) => fixture.Network.Connect(context.DnsEndPoint, ct),
        });

    private static Dictionary<string, string> Bearer(string token) => new() { ["authorization"] = $"Bearer {token}" };

    private static async Task<MaskMessage> FirstMaskAsync(DaemonConnection connection)
    {
        using var call = connection.Segmentation.StreamMasks(new StreamMasksRequest { ClientName = "privacy-test" }, deadline: DateTime.UtcNow.AddSeconds(60), cancellationToken: Ct);
        Assert.True(await call.ResponseStream.MoveNext(Ct));
        return call.ResponseStream.Current;
    }

    [Fact]
    public async Task A_caller_on_the_network_without_credentials_gets_no_frames_or_masks_but_may_ask_what_runs()
    {
        RequireNetwork();
        using var connection = FromNetwork();

        var stream = await StatusAssert.ThrowsAsync(StatusCode.Unauthenticated, () => FirstMaskAsync(connection), "client certificate or 'authorization: Bearer");
        using var segment = connection.Segmentation.Segment(cancellationToken: Ct);
        await StatusAssert.ThrowsAsync(StatusCode.Unauthenticated, () => segment.ResponseStream.MoveNext(Ct));
        var info = await connection.Segmentation.GetInfoAsync(new GetInfoRequest(), cancellationToken: Ct);

        Assert.True(info.Ready);
        Assert.DoesNotContain(fixture.VideoToken, stream.Status.Detail);
    }

    [Fact]
    public async Task A_wrong_token_is_refused_and_the_video_token_lets_the_caller_in()
    {
        RequireNetwork();
        using (var wrong = FromNetwork(Bearer("not-the-token-0123456789")))
        {
            await StatusAssert.ThrowsAsync(StatusCode.Unauthenticated, () => FirstMaskAsync(wrong), "not one this appliance accepts");
        }
        using var right = FromNetwork(Bearer(fixture.VideoToken));

        var mask = await FirstMaskAsync(right);

        Assert.True(mask.Sequence > 0);
    }

    [Fact]
    public async Task A_client_certificate_issued_by_the_site_CA_lets_the_caller_in()
    {
        RequireNetwork();
        var folder = Directory.CreateTempSubdirectory("m2s-client-").FullName;
        var (cert, key, _, _) = fixture.Pki.IssueClient("or3-monitor", folder);
        using var certificate = X509Certificate2.CreateFromPemFile(cert, key);
        using var connection = FromNetwork(certificate: certificate);

        var mask = await FirstMaskAsync(connection);

        Assert.True(mask.Sequence > 0);
    }

    [Fact]
    public async Task A_client_certificate_from_another_CA_is_no_credential()
    {
        RequireNetwork();
        var other = new SitePki(Path.Combine(Directory.CreateTempSubdirectory("m2s-other-").FullName, "tls"));
        other.Initialize(["elsewhere"], [IPAddress.Loopback]);
        var (cert, key, _, _) = other.IssueClient("stranger", Directory.CreateTempSubdirectory("m2s-client-").FullName);
        using var certificate = X509Certificate2.CreateFromPemFile(cert, key);
        using var connection = FromNetwork(certificate: certificate);

        var e = await Assert.ThrowsAsync<RpcException>(() => FirstMaskAsync(connection));

        // Refused in the TLS handshake (the certificate does not chain to the site CA) or by the access check.
        Assert.Contains(e.StatusCode, new[] { StatusCode.Unavailable, StatusCode.Internal, StatusCode.Unauthenticated });
    }

    [Fact]
    public async Task Loopback_stays_open_without_credentials()
    {
        RequireNetwork();
        var mask = await FirstMaskAsync(fixture.Daemon.Channel);
        Assert.True(mask.Sequence > 0);
    }

    [Fact]
    public async Task Plain_text_from_the_network_is_refused_even_with_the_token()
    {
        RequireNetwork();
        await using var plain = await TestDaemon.StartAsync(PrivateDaemonFixture.Settings(fixture.Pki, "http"));
        var address = plain.GrpcAddress.Replace("127.0.0.1", fixture.Network.HostAddress.ToString(), StringComparison.Ordinal);
        using var connection = DaemonConnection.Open(address, new DaemonConnectionOptions
        {
            Headers = Bearer(fixture.VideoToken),
            ConnectCallback = (context, ct) => fixture.Network.Connect(context.DnsEndPoint, ct),
        });
        using var http = new HttpClient(fixture.Network.Handler());

        await StatusAssert.ThrowsAsync(StatusCode.PermissionDenied, () => FirstMaskAsync(connection), "need TLS");
        var page = await http.GetAsync(plain.HttpAddress.Replace("127.0.0.1", fixture.Network.HostAddress.ToString(), StringComparison.Ordinal) + "/view/", Ct);

        Assert.Equal(HttpStatusCode.Forbidden, page.StatusCode);
        Assert.True(await FirstMaskAsync(plain.Channel) is { Sequence: > 0 }, "loopback is open on the same daemon");
    }

    /// <summary>A browser-like client in the namespace that trusts the site CA, follows no redirects and keeps cookies only when asked.</summary>
    private HttpClient WebClient(CookieContainer? cookies = null)
    {
        var handler = TestDaemon.Trusting(fixture.Ca, fixture.Network.Handler());
        handler.AllowAutoRedirect = false;
        handler.UseCookies = cookies is not null;
        if (cookies is not null) handler.CookieContainer = cookies;
        return new HttpClient(handler) { BaseAddress = new Uri(fixture.HttpFromNetwork) };
    }

    [Fact]
    public async Task D2_one_address_on_the_network_holds_at_most_its_share_of_unfinished_messages()
    {
        RequireNetwork();
        var settings = PrivateDaemonFixture.Settings(fixture.Pki, "https");
        settings["Daemon:Limits:MaxReceiveMessageBytes"] = (4 << 20).ToString(System.Globalization.CultureInfo.InvariantCulture);
        settings["Daemon:Limits:MaxUnfinishedMessageBytesPerPeer"] = (5 << 20).ToString(System.Globalization.CultureInfo.InvariantCulture);
        settings["Daemon:Limits:MaxUnfinishedMessageBytes"] = (12 << 20).ToString(System.Globalization.CultureInfo.InvariantCulture);
        settings["Daemon:Limits:MessageTimeoutSeconds"] = "0";
        await using var daemon = await TestDaemon.StartAsync(settings, channelOptions: new DaemonConnectionOptions { TrustedCertificate = fixture.Ca });
        var fromNetwork = daemon.GrpcAddress.Replace("127.0.0.1", fixture.Network.HostAddress.ToString(), StringComparison.Ordinal);
        StalledCall Remote() => new(fromNetwork, 4 << 20, 3 << 20, TestDaemon.Trusting(fixture.Ca, fixture.Network.Handler()), Bearer(fixture.VideoToken));

        using var first = Remote();
        var held = await first.StatusOrNullAsync(daemon, 0);
        using var second = Remote();
        var refused = await second.StatusOrNullAsync(daemon, 3 << 20);
        // Loopback is bound by the daemon's total only: it still gets in.
        using var local = new StalledCall(daemon.GrpcAddress, 4 << 20, 3 << 20, TestDaemon.Trusting(fixture.Ca));
        var loopback = await local.StatusOrNullAsync(daemon, await daemon.MetricAsync("m2s_unfinished_message_bytes") ?? 0);

        Assert.Null(held.Code);
        Assert.Equal("8", refused.Code);
        Assert.Contains($"{fixture.Network.PeerAddress} already has", refused.Message);
        Assert.Contains("MaxUnfinishedMessageBytesPerPeer", refused.Message);
        Assert.Null(loopback.Code);
    }

    private static FormUrlEncodedContent Token(string token) => new([new KeyValuePair<string, string>("token", token)]);

    [Fact]
    public async Task The_web_view_from_the_network_sends_a_stranger_to_the_login_and_keeps_the_stream_shut()
    {
        RequireNetwork();
        using var web = WebClient();

        using var page = await web.GetAsync("/view/", Ct);
        using var stream = await web.GetAsync("/view/stream", HttpCompletionOption.ResponseHeadersRead, Ct);
        using var login = await web.GetAsync("/view/login", Ct);

        Assert.Equal(HttpStatusCode.Redirect, page.StatusCode);
        Assert.Equal("/view/login", page.Headers.Location?.OriginalString);
        Assert.Equal(HttpStatusCode.Unauthorized, stream.StatusCode);
        Assert.Contains("video token", await login.Content.ReadAsStringAsync(Ct));
    }

    [Fact]
    public async Task The_video_token_logs_a_browser_in_with_a_strict_session_cookie_that_opens_the_stream()
    {
        RequireNetwork();
        var cookies = new CookieContainer();
        using var web = WebClient(cookies);

        using var login = await web.PostAsync("/view/login", Token(fixture.VideoToken), Ct);

        Assert.Equal(HttpStatusCode.Redirect, login.StatusCode);
        var setCookie = Assert.Single(login.Headers.GetValues("Set-Cookie"));
        Assert.StartsWith("m2s_view=", setCookie);
        Assert.Contains("secure", setCookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("httponly", setCookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("samesite=strict", setCookie, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain(fixture.VideoToken, setCookie);
        using var stream = await web.GetAsync("/view/stream", HttpCompletionOption.ResponseHeadersRead, Ct);
        Assert.Equal(HttpStatusCode.OK, stream.StatusCode);
        using var reader = new StreamReader(await stream.Content.ReadAsStreamAsync(Ct));
        string? line;
        while ((line = await reader.ReadLineAsync(Ct)) is not null && !line.StartsWith("data: {", StringComparison.Ordinal))
        {
        }
        Assert.NotNull(line);
        Assert.Contains("\"seq\"", line);
    }

    [Fact]
    public async Task Five_wrong_tokens_in_a_minute_shut_the_login_for_that_address()
    {
        RequireNetwork();
        await using var daemon = await TestDaemon.StartAsync(PrivateDaemonFixture.Settings(fixture.Pki, "https"),
            channelOptions: new DaemonConnectionOptions { TrustedCertificate = fixture.Ca }, waitUntilServing: false);
        using var web = WebClient();
        web.BaseAddress = new Uri(daemon.HttpAddress.Replace("127.0.0.1", fixture.Network.HostAddress.ToString(), StringComparison.Ordinal));

        var wrong = new List<HttpStatusCode>();
        for (var i = 0; i < 5; i++) wrong.Add((await web.PostAsync("/view/login", Token($"guess-{i}-0123456789"), Ct)).StatusCode);
        using var right = await web.PostAsync("/view/login", Token(fixture.VideoToken), Ct);

        Assert.All(wrong, s => Assert.Equal(HttpStatusCode.Unauthorized, s));
        Assert.Equal(HttpStatusCode.TooManyRequests, right.StatusCode);
        Assert.Contains("too many wrong tokens", await right.Content.ReadAsStringAsync(Ct));
    }

    [Fact]
    public async Task A_browser_on_the_network_signs_in_with_the_video_token_and_sees_the_live_view()
    {
        RequireNetwork();
        // Chromium runs in the namespace, trusting exactly the appliance's key (as a site pins it on a managed tablet).
        var wrapper = Path.Combine(Directory.CreateTempSubdirectory("m2s-browser-").FullName, "chromium-in-namespace");
        File.WriteAllText(wrapper, $"#!/bin/sh\nexec ip netns exec {fixture.Network.Name} /usr/bin/chromium \"$@\"\n");
        File.SetUnixFileMode(wrapper, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        using var server = X509CertificateLoader.LoadCertificateFromFile(fixture.Pki.ServerCertificatePath);
        var pin = Convert.ToBase64String(System.Security.Cryptography.SHA256.HashData(server.PublicKey.ExportSubjectPublicKeyInfo()));
        var screenshot = WebViewTests.Screenshot("or-web-view-from-the-network.png");

        var result = await WebViewTests.RunAsync(fixture.HttpFromNetwork + "/view/", screenshot, new Dictionary<string, string>
        {
            ["M2S_CHROMIUM"] = wrapper,
            ["M2S_CHROMIUM_ARGS"] = $"--ignore-certificate-errors-spki-list={pin}",
            ["M2S_VIEW_TOKEN"] = fixture.VideoToken,
        });

        Assert.EndsWith("/view/login", result.GetProperty("login").GetString());
        Assert.True(result.GetProperty("second").GetProperty("frames").GetDouble() >= result.GetProperty("first").GetProperty("frames").GetDouble() + 10);
        Assert.True(result.GetProperty("first").GetProperty("maskPixels").GetDouble() > 0, "no mask on screen");
        Assert.Equal(0, result.GetProperty("errors").GetArrayLength());
    }
}
