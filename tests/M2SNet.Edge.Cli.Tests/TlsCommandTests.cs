using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.RegularExpressions;

namespace M2SNet.Edge.Cli.Tests;

/// <summary>m2s tls init and m2s tls client, run as a site's biomedical engineer runs them.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed partial class TlsCommandTests : IDisposable
{
    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("m2s-cli-tls-");

    public void Dispose() => _dir.Delete(recursive: true);

    private string P(string name) => Path.Combine(_dir.FullName, name);

    private static bool ChainsTo(X509Certificate2 certificate, X509Certificate2 ca, string usage)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(ca);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.ApplicationPolicy.Add(new Oid(usage));
        return chain.Build(certificate);
    }

    [Fact]
    public async Task Init_makes_a_site_CA_a_server_certificate_for_the_given_names_and_a_token_only_the_owner_reads()
    {
        var r = await CliProcess.RunAsync("tls", "init", "--dir", P("tls"), "--name", "or3-appliance", "--ip", "198.18.9.1");

        Assert.True(r.ExitCode == 0, r.Stderr);
        using var ca = X509CertificateLoader.LoadCertificateFromFile(P("tls/ca.crt"));
        using var server = X509CertificateLoader.LoadCertificateFromFile(P("tls/server.crt"));
        Assert.True(ChainsTo(server, ca, "1.3.6.1.5.5.7.3.1"), "the server certificate is not for server authentication under the site CA");
        Assert.True(server.MatchesHostname("or3-appliance"));
        Assert.True(server.MatchesHostname("198.18.9.1"));
        Assert.True(server.MatchesHostname("127.0.0.1") && server.MatchesHostname("localhost"), "the appliance's own tools reach it on loopback");
        Assert.False(server.MatchesHostname("elsewhere"));
        foreach (var secret in new[] { "tls/ca.key", "tls/server.key", "tls/video.token" }) Assert.Equal(OwnerOnly, File.GetUnixFileMode(P(secret)));
        Assert.True((await File.ReadAllTextAsync(P("tls/video.token"), TestContext.Current.CancellationToken)).Trim().Length >= 40);
        Assert.Contains("m2s tls client", r.Stdout);
    }

    [Fact]
    public async Task Init_again_keeps_what_exists()
    {
        Assert.Equal(0, (await CliProcess.RunAsync("tls", "init", "--dir", P("tls"), "--name", "or3-appliance")).ExitCode);
        var before = Directory.GetFiles(P("tls")).Order(StringComparer.Ordinal).Select(f => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(f)))).ToList();

        var r = await CliProcess.RunAsync("tls", "init", "--dir", P("tls"), "--name", "or3-appliance");

        Assert.Equal(0, r.ExitCode);
        Assert.Contains("nothing written", r.Stdout);
        Assert.Equal(before, Directory.GetFiles(P("tls")).Order(StringComparer.Ordinal).Select(f => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(f)))));
    }

    [Fact]
    public async Task Client_issues_a_device_certificate_for_client_authentication_under_the_site_CA()
    {
        Assert.Equal(0, (await CliProcess.RunAsync("tls", "init", "--dir", P("tls"), "--name", "or3-appliance")).ExitCode);

        var r = await CliProcess.RunAsync("tls", "client", "or3-monitor", "--dir", P("tls"), "--out", P("devices"), "--days", "30");

        Assert.True(r.ExitCode == 0, r.Stderr);
        using var ca = X509CertificateLoader.LoadCertificateFromFile(P("tls/ca.crt"));
        using var device = X509Certificate2.CreateFromPemFile(P("devices/or3-monitor.crt"), P("devices/or3-monitor.key"));
        Assert.True(ChainsTo(device, ca, "1.3.6.1.5.5.7.3.2"), "the device certificate is not for client authentication under the site CA");
        Assert.False(ChainsTo(device, ca, "1.3.6.1.5.5.7.3.1"), "a device certificate must not serve as a server's");
        Assert.Equal("CN=or3-monitor", device.Subject);
        Assert.InRange((device.NotAfter - DateTime.Now).TotalDays, 29, 31);
        Assert.Equal(OwnerOnly, File.GetUnixFileMode(P("devices/or3-monitor.key")));
        var password = PasswordLine().Match(r.Stdout).Groups["password"].Value;
        using var fromP12 = X509CertificateLoader.LoadPkcs12FromFile(P("devices/or3-monitor.p12"), password);
        Assert.True(fromP12.HasPrivateKey);
        Assert.Equal(device.Thumbprint, fromP12.Thumbprint);
    }

    [Fact]
    public async Task Client_without_a_site_CA_says_to_run_init_first()
    {
        var r = await CliProcess.RunAsync("tls", "client", "or3-monitor", "--dir", P("empty"), "--out", P("devices"));

        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("m2s tls init", r.Stderr);
        Assert.False(Directory.Exists(P("devices")) && Directory.EnumerateFiles(P("devices")).Any());
    }

    [GeneratedRegex(@"import password (?<password>\S+)")]
    private static partial Regex PasswordLine();
}
