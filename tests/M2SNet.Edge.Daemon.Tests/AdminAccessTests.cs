using System.Net;
using M2SNet.Edge.Daemon.Configuration;
using M2SNet.Edge.Daemon.Services;
using Grpc.Core;
using M2SNet.Edge.Protocol.V1;
using Microsoft.Extensions.Options;

namespace M2SNet.Edge.Daemon.Tests;

/// <summary>Who may administer models: loopback always; from the network only over TLS with a client certificate or the token.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class AdminAccessTests
{
    private static readonly IPAddress s_orNetwork = IPAddress.Parse("10.20.30.40");

    private static AdminAccess Access(string? token = "0123456789abcdef-token", bool enabled = true)
    {
        string? file = null;
        if (token is not null)
        {
            file = Path.Combine(Directory.CreateTempSubdirectory("m2s-token-").FullName, "admin.token");
            File.WriteAllText(file, token + "\n");
            File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
        return new AdminAccess(Options.Create(new DaemonOptions { Admin = new AdminOptions { Enabled = enabled, TokenFile = file } }));
    }

    [Fact]
    public void Loopback_callers_need_no_credentials()
    {
        Access().Check(new NetworkCaller(IPAddress.Loopback, Tls: false, ClientCertificate: false, Authorization: null));
        Access().Check(new NetworkCaller(IPAddress.IPv6Loopback, false, false, null));
    }

    [Fact]
    public void Network_caller_over_plain_http2_is_refused_even_with_the_token()
    {
        var e = Assert.Throws<RpcException>(() => Access().Check(new NetworkCaller(s_orNetwork, Tls: false, false, "Bearer 0123456789abcdef-token")));
        Assert.Equal(StatusCode.PermissionDenied, e.StatusCode);
        Assert.Contains("TLS", e.Status.Detail);
    }

    [Fact]
    public void Network_caller_over_tls_with_a_verified_client_certificate_is_let_in() =>
        Access(token: null).Check(new NetworkCaller(s_orNetwork, Tls: true, ClientCertificate: true, null));

    [Fact]
    public void Network_caller_over_tls_needs_the_right_bearer_token()
    {
        Access().Check(new NetworkCaller(s_orNetwork, true, false, "Bearer 0123456789abcdef-token"));
        Assert.Equal(StatusCode.Unauthenticated, Assert.Throws<RpcException>(() => Access().Check(new NetworkCaller(s_orNetwork, true, false, "Bearer wrong"))).StatusCode);
        Assert.Equal(StatusCode.Unauthenticated, Assert.Throws<RpcException>(() => Access().Check(new NetworkCaller(s_orNetwork, true, false, null))).StatusCode);
        Assert.Equal(StatusCode.Unauthenticated, Assert.Throws<RpcException>(() => Access(token: null).Check(new NetworkCaller(s_orNetwork, true, false, "Bearer anything"))).StatusCode);
    }

    [Fact]
    public void Switched_off_admin_refuses_even_loopback() =>
        Assert.Equal(StatusCode.PermissionDenied, Assert.Throws<RpcException>(() => Access(enabled: false).Check(new NetworkCaller(IPAddress.Loopback, false, false, null))).StatusCode);

    [Fact]
    public void Token_file_readable_by_others_is_a_configuration_error()
    {
        var file = Path.Combine(Directory.CreateTempSubdirectory("m2s-token-").FullName, "admin.token");
        File.WriteAllText(file, "0123456789abcdef-token");
        File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);
        var errors = DaemonOptionsValidator.Validate(new DaemonOptions { Admin = new AdminOptions { TokenFile = file } });
        Assert.Contains(errors, e => e.Contains("readable by group or others", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Loopback_client_reaches_the_admin_service_of_a_running_daemon()
    {
        await using var daemon = await TestDaemon.StartAsync(TestBundles.Settings());
        var list = await daemon.Admin.ListModelsAsync(new ListModelsRequest(), cancellationToken: TestContext.Current.CancellationToken);
        Assert.Equal("factory", list.ActiveKey);
    }
}

/// <summary>The web view's login: the video token starts a session; wrong tokens lock an address out for a minute, and are forgotten after it.</summary>
public sealed class VideoLoginTests
{
    private sealed class ManualTime : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = new(2026, 12, 5, 8, 0, 0, TimeSpan.Zero);

        public override DateTimeOffset GetUtcNow() => Now;
    }

    private static (VideoAccess Access, ManualTime Time) Access()
    {
        var file = Path.Combine(Directory.CreateTempSubdirectory("m2s-token-").FullName, "video.token");
        File.WriteAllText(file, "the-video-token-0123456789\n");
        var time = new ManualTime();
        return (new VideoAccess(Options.Create(new DaemonOptions { Video = new VideoOptions { TokenFile = file } }), time), time);
    }

    [Fact]
    public void Five_wrong_tokens_lock_the_address_for_a_minute_then_it_is_forgotten()
    {
        var (access, time) = Access();
        var peer = IPAddress.Parse("198.18.3.2");
        for (var i = 0; i < VideoAccess.MaxFailures; i++) Assert.Null(access.StartSession(peer, "guess", out _));

        Assert.Null(access.StartSession(peer, "the-video-token-0123456789", out var locked));
        Assert.StartsWith("too many wrong tokens", locked);
        time.Now += VideoAccess.FailureWindow;
        Assert.Null(access.StartSession(IPAddress.Parse("198.18.3.9"), "guess", out _));

        Assert.Equal(1, access.AddressesWithRecentFailures);
        Assert.NotNull(access.StartSession(peer, "the-video-token-0123456789", out _));
    }

    [Fact]
    public void Wrong_tokens_from_many_addresses_are_remembered_up_to_a_bound()
    {
        var (access, _) = Access();
        for (var i = 0; i < VideoAccess.MaxFailingAddresses + 100; i++) access.StartSession(new IPAddress(0x0A000000 + i), "guess", out _);

        Assert.Equal(VideoAccess.MaxFailingAddresses, access.AddressesWithRecentFailures);
        Assert.NotNull(access.StartSession(IPAddress.Parse("10.255.0.1"), "the-video-token-0123456789", out _));
    }
}
