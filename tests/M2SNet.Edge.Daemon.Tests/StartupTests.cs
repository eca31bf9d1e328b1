using System.Diagnostics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Grpc.Health.V1;
using M2SNet.Edge.Daemon.Configuration;
using Grpc.Core;
using M2SNet.Edge.Protocol;
using M2SNet.Edge.Protocol.V1;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace M2SNet.Edge.Daemon.Tests;

/// <summary>Daemons of their own: a broken model, configuration layers and errors, TLS, the program's exit codes.</summary>
public sealed class StartupTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static CallOptions Call() => new(deadline: DateTime.UtcNow.AddSeconds(60), cancellationToken: Ct);

    private static string DemoModel => Path.Combine(AppContext.BaseDirectory, "models", "m2snet-s-demo.onnx");

    private static string TempDir() => Directory.CreateTempSubdirectory("m2s-startup-").FullName;

    [Fact]
    public async Task A_model_that_does_not_match_its_manifest_keeps_the_daemon_up_and_NOT_SERVING_with_the_reason()
    {
        var dir = TempDir();
        var onnx = Path.Combine(dir, "tampered.onnx");
        var bytes = await File.ReadAllBytesAsync(DemoModel, Ct);
        bytes[^100] ^= 0x55; // one byte of a weight
        await File.WriteAllBytesAsync(onnx, bytes, Ct);
        File.Copy(Path.ChangeExtension(DemoModel, ".json"), Path.ChangeExtension(onnx, ".json"));

        await using var daemon = await TestDaemon.StartAsync(new Dictionary<string, string?> { ["Daemon:Model:Path"] = onnx }, waitUntilServing: false);
        var clock = Stopwatch.StartNew();
        DaemonInfo info;
        while (!(info = await daemon.Client.GetInfoAsync(new GetInfoRequest(), Call())).NotReadyReason.Contains("does not match", StringComparison.Ordinal))
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), $"still: {info.NotReadyReason}");
            await Task.Delay(100, Ct);
        }
        Assert.False(info.Ready);
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.NotServing, (await daemon.Health.CheckAsync(new HealthCheckRequest(), Call())).Status);
        using var stream = daemon.Client.StreamMasks(new StreamMasksRequest(), Call());
        await StatusAssert.ThrowsAsync(StatusCode.Unavailable, () => stream.ResponseStream.MoveNext(Ct), "does not match its manifest");
        var healthz = await daemon.Http.GetAsync("/healthz", Ct);
        Assert.Equal(System.Net.HttpStatusCode.ServiceUnavailable, healthz.StatusCode);
        Assert.Contains("SHA-256", await healthz.Content.ReadAsStringAsync(Ct));
        Assert.Equal(0, await daemon.MetricAsync("m2s_ready"));
    }

    [Fact]
    public async Task Every_configuration_error_is_reported_at_once_when_the_host_starts()
    {
        var e = await StartFailsAsync(DaemonCommandLine.Parse(
        [
            "--firmware-config", TempDir(),
            "--urls", "ftp://127.0.0.1:1",
            "--provider", "Quantum",
            "--Daemon:Stream:JpegQuality=0",
            "--Daemon:Tls:ClientCaPath=/nonexistent/ca.pem",
            "--Daemon:Source:RegionOfInterest=1,2,3",
        ]));
        Assert.Contains(e.Errors, m => m.Contains("ftp://127.0.0.1:1", StringComparison.Ordinal));
        Assert.Contains(e.Errors, m => m.Contains("Quantum", StringComparison.Ordinal));
        Assert.Contains(e.Errors, m => m.Contains("JpegQuality 0", StringComparison.Ordinal));
        Assert.Contains(e.Errors, m => m.Contains("/nonexistent/ca.pem", StringComparison.Ordinal));
        Assert.Contains(e.Errors, m => m.Contains("1,2,3", StringComparison.Ordinal));
        Assert.Equal(5, e.Errors.Count);
    }

    [Fact]
    public async Task A_value_of_the_wrong_type_names_the_setting()
    {
        var e = await StartFailsAsync(DaemonCommandLine.Parse(["--firmware-config", TempDir(), "--Daemon:Limits:MaxFrameWidth=wide"]));
        Assert.Contains("MaxFrameWidth", e.Message);
    }

    /// <summary>Builds the daemon (which checks nothing yet) and starts it: the options are validated there, before anything runs.</summary>
    private static async Task<DaemonConfigurationException> StartFailsAsync(DaemonCommandLine commandLine)
    {
        await using var app = DaemonHost.Build(commandLine);
        return await Assert.ThrowsAsync<DaemonConfigurationException>(() => DaemonHost.StartAsync(app));
    }

    [Fact]
    public async Task Configuration_layers_apply_in_order_appsettings_firmware_config_file_environment_command_line()
    {
        var firmware = TempDir();
        await File.WriteAllTextAsync(Path.Combine(firmware, "10-device.json"),
            """{ "Daemon": { "Stream": { "JpegQuality": 50, "DefaultEncoding": "Png", "MaxSubscribers": 5 }, "Source": { "Uri": "/dev/video0" } } }""", Ct);
        await File.WriteAllTextAsync(Path.Combine(firmware, "20-site.json"), """{ "Daemon": { "Stream": { "MaxSubscribers": 6 } } }""", Ct);
        var config = Path.Combine(TempDir(), "extra.json");
        await File.WriteAllTextAsync(config, """{ "Daemon": { "Stream": { "JpegQuality": 60 }, "Limits": { "MaxFrameWidth": 2000 } } }""", Ct);
        Environment.SetEnvironmentVariable("M2S_Daemon__Limits__MaxFrameWidth", "2100");
        Environment.SetEnvironmentVariable("M2S_Daemon__Limits__MaxFrameHeight", "1200");
        try
        {
            await using var app = DaemonHost.Build(DaemonCommandLine.Parse(
                ["--firmware-config", firmware, "--config", config, "--Daemon:Limits:MaxFrameHeight=1300", "--urls", "http://127.0.0.1:0", "--http-urls", ""]));
            var o = app.Services.GetRequiredService<IOptions<DaemonOptions>>().Value;
            Assert.Equal("/dev/video0", o.Source.Uri);           // firmware-config over appsettings
            Assert.Equal(MaskEncoding.Png, o.Stream.DefaultEncoding);
            Assert.Equal(6, o.Stream.MaxSubscribers);             // later firmware file over earlier
            Assert.Equal(60, o.Stream.JpegQuality);               // --config over firmware-config
            Assert.Equal(2100, o.Limits.MaxFrameWidth);           // environment over --config
            Assert.Equal(1300, o.Limits.MaxFrameHeight);          // command line over environment
            Assert.Equal("TensorRT,CUDA,DirectML,CPU", o.Model.Providers); // appsettings where nothing overrides it
            Assert.Equal("", o.Endpoints.Http);
        }
        finally
        {
            Environment.SetEnvironmentVariable("M2S_Daemon__Limits__MaxFrameWidth", null);
            Environment.SetEnvironmentVariable("M2S_Daemon__Limits__MaxFrameHeight", null);
        }
    }

    private sealed record Pki(string Dir, X509Certificate2 Ca, string ServerCert, string ServerKey, string CaPem, X509Certificate2 Client, X509Certificate2 Stranger);

    /// <summary>A CA, a server certificate for 127.0.0.1 and a client certificate it issued, and a client certificate nobody trusts.</summary>
    private static Pki MakePki()
    {
        var dir = TempDir();
        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caRequest = new CertificateRequest("CN=M2SNet.Edge test CA", caKey, HashAlgorithmName.SHA256);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        var ca = caRequest.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));

        X509Certificate2 Issue(string subject, bool server, X509Certificate2 issuer)
        {
            var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
            request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
            request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
                [server ? new Oid("1.3.6.1.5.5.7.3.1") : new Oid("1.3.6.1.5.5.7.3.2")], false));
            if (server)
            {
                var san = new SubjectAlternativeNameBuilder();
                san.AddIpAddress(System.Net.IPAddress.Loopback);
                request.CertificateExtensions.Add(san.Build());
            }
            var serial = new byte[8];
            RandomNumberGenerator.Fill(serial);
            using var cert = request.Create(issuer, DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(10), serial);
            return cert.CopyWithPrivateKey(key);
        }

        var serverCert = Issue("CN=127.0.0.1", server: true, ca);
        var client = Issue("CN=or-monitor-1", server: false, ca);
        using var otherKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var otherRequest = new CertificateRequest("CN=someone else", otherKey, HashAlgorithmName.SHA256);
        otherRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        var otherCa = otherRequest.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
        var stranger = Issue("CN=stranger", server: false, otherCa);

        var certPath = Path.Combine(dir, "server.crt");
        var keyPath = Path.Combine(dir, "server.key");
        var caPath = Path.Combine(dir, "clients-ca.crt");
        File.WriteAllText(certPath, serverCert.ExportCertificatePem());
        File.WriteAllText(keyPath, serverCert.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem());
        File.WriteAllText(caPath, ca.ExportCertificatePem());
        // Certificates with keys, usable by SslStream on Linux.
        static X509Certificate2 Portable(X509Certificate2 c) => X509CertificateLoader.LoadPkcs12(c.Export(X509ContentType.Pfx), null);
        return new Pki(dir, X509CertificateLoader.LoadCertificate(ca.RawData), certPath, keyPath, caPath, Portable(client), Portable(stranger));
    }

    [Fact]
    public async Task With_TLS_and_client_certificates_only_clients_the_CA_issued_get_in()
    {
        var pki = MakePki();
        await using var daemon = await TestDaemon.StartAsync(new Dictionary<string, string?>
        {
            ["Daemon:Endpoints:Grpc"] = "https://127.0.0.1:0",
            ["Daemon:Tls:CertificatePath"] = pki.ServerCert,
            ["Daemon:Tls:KeyPath"] = pki.ServerKey,
            ["Daemon:Tls:ClientCaPath"] = pki.CaPem,
            ["Daemon:Tls:RequireClientCertificate"] = "true",
        }, channelOptions: new DaemonConnectionOptions { TrustedCertificate = pki.Ca, ClientCertificate = pki.Client });
        Assert.StartsWith("https://", daemon.GrpcAddress);
        Assert.True((await daemon.Client.GetInfoAsync(new GetInfoRequest(), Call())).Ready);
        using (var stream = daemon.Client.StreamMasks(new StreamMasksRequest { ClientName = "tls" }, Call()))
        {
            Assert.True(await stream.ResponseStream.MoveNext(Ct));
        }

        // The connection never gets to a call: Grpc.Net.Client says INTERNAL (TLS or HTTP/2 handshake failed) or UNAVAILABLE.
        async Task Refused(DaemonConnectionOptions options, string why, string detail = "")
        {
            using var channel = DaemonConnection.Open(daemon.GrpcAddress, options);
            var e = await Assert.ThrowsAsync<RpcException>(() => channel.Segmentation.GetInfoAsync(new GetInfoRequest(), Call()).ResponseAsync);
            Assert.True(e.StatusCode is StatusCode.Internal or StatusCode.Unavailable, $"{why}: {e.Status}");
            Assert.Contains(detail, e.Status.Detail);
            TestContext.Current.TestOutputHelper?.WriteLine($"{why}: {e.Status}");
        }
        await Refused(new DaemonConnectionOptions { TrustedCertificate = pki.Ca }, "no client certificate");
        await Refused(new DaemonConnectionOptions { TrustedCertificate = pki.Ca, ClientCertificate = pki.Stranger }, "a certificate from another CA");
        await Refused(new DaemonConnectionOptions { ClientCertificate = pki.Client }, "the server's CA not trusted", "SSL");
        using var cleartext = DaemonConnection.Open(daemon.GrpcAddress.Replace("https://", "http://", StringComparison.Ordinal));
        await Assert.ThrowsAsync<RpcException>(() => cleartext.Segmentation.GetInfoAsync(new GetInfoRequest(), Call()).ResponseAsync);
    }

    private static async Task<(int Code, string Out, string Err)> RunDaemonAsync(params string[] args)
    {
        var psi = new ProcessStartInfo(Path.Combine(AppContext.BaseDirectory, "m2s-edged")) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync(Ct);
        var stderr = p.StandardError.ReadToEndAsync(Ct);
        await p.WaitForExitAsync(Ct).WaitAsync(TimeSpan.FromSeconds(60), Ct);
        return (p.ExitCode, await stdout, await stderr);
    }

    [Fact]
    public async Task The_program_exits_2_with_the_reason_on_bad_options_and_configuration()
    {
        var (code, _, err) = await RunDaemonAsync("--frobnicate");
        Assert.Equal(2, code);
        Assert.Contains("unknown option '--frobnicate'", err);

        (code, _, err) = await RunDaemonAsync("--firmware-config", TempDir(), "--provider", "Quantum");
        Assert.Equal(2, code);
        Assert.Contains("Quantum", err);

        (code, _, err) = await RunDaemonAsync("--config", "/nonexistent.json");
        Assert.Equal(2, code);
        Assert.Contains("/nonexistent.json does not exist", err);

        var (helpCode, help, _) = await RunDaemonAsync("--help");
        Assert.Equal(0, helpCode);
        Assert.Contains("--urls", help);
    }

    [Fact]
    public async Task The_program_exits_3_when_its_port_is_taken()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        var (code, _, err) = await RunDaemonAsync("--firmware-config", TempDir(), "--urls", $"http://127.0.0.1:{port}", "--http-urls", "", "--source", TestVideo.Path_);
        Assert.Equal(3, code);
        Assert.Contains("cannot listen", err);
    }

    [Fact]
    public async Task Of_the_factory_model_alternatives_one_that_fails_is_passed_over_and_the_precision_is_reported()
    {
        var int8 = Path.Combine(AppContext.BaseDirectory, "models", "m2snet-s-demo-int8.onnx");
        var manifest = M2SNet.Edge.Onnx.ModelManifest.FromJson(File.ReadAllText(Path.ChangeExtension(int8, ".json")));
        await using var daemon = await TestDaemon.StartAsync(new Dictionary<string, string?>
        {
            ["Daemon:Model:Path"] = $"/nonexistent/model.onnx, {int8}",
        });

        var info = await daemon.Client.GetInfoAsync(new GetInfoRequest(), Call());
        Assert.True(info.Ready, info.NotReadyReason);
        Assert.Equal(manifest.ModelId, info.Model.Id);
        Assert.Equal("int8", info.Model.Precision);
        var factory = (await daemon.Admin.ListModelsAsync(new ListModelsRequest(), Call())).Models.Single(m => m.Factory);
        Assert.Equal(manifest.ModelId, factory.Id);
        Assert.Equal("int8", factory.Precision);
    }

    [Fact]
    public async Task Of_two_alternatives_that_pass_one_runs_and_the_daemon_says_which()
    {
        await using var daemon = await TestDaemon.StartAsync(new Dictionary<string, string?>
        {
            ["Daemon:Model:Path"] = "models/m2snet-s-demo.onnx,models/m2snet-s-demo-int8.onnx",
        });

        var info = await daemon.Client.GetInfoAsync(new GetInfoRequest(), Call());
        Assert.True(info.Ready, info.NotReadyReason);
        var ids = new[] { "m2snet-s-demo.json", "m2snet-s-demo-int8.json" }.Select(f =>
            M2SNet.Edge.Onnx.ModelManifest.FromJson(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "models", f))))
            .ToDictionary(m => m.ModelId, m => m.Precision);
        Assert.Contains(info.Model.Id, ids.Keys);
        Assert.Equal(ids[info.Model.Id], info.Model.Precision);
        Assert.Equal(info.Model.Id, (await daemon.Admin.ListModelsAsync(new ListModelsRequest(), Call())).Models.Single(m => m.Factory).Id);
    }
}
