using System.IO.Compression;
using M2SNet.Edge.TestSupport;

namespace M2SNet.Edge.Cli.Tests;

/// <summary>m2s keygen, bundle create and bundle verify, run as an engineer runs them.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class BundleCommandTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("m2s-cli-bundle-");

    public void Dispose() => _dir.Delete(recursive: true);

    private string P(string name) => Path.Combine(_dir.FullName, name);

    private static string DemoModel => Path.Combine(Reference.RepositoryRoot(), "models", "m2snet-s-demo.onnx");

    private async Task<string> SignedDemoAsync()
    {
        Assert.Equal(0, (await CliProcess.RunAsync("keygen", "--out", P("site"))).ExitCode);
        var r = await CliProcess.RunAsync("bundle", "create", "--model", DemoModel, "--key", P("site.key.pem"), "--out", P("demo.m2sbundle"));
        Assert.Equal(0, r.ExitCode);
        return P("demo.m2sbundle");
    }

    [Fact]
    public async Task Keygen_writes_a_private_key_only_its_owner_can_read()
    {
        var r = await CliProcess.RunAsync("keygen", "--out", P("site"));

        Assert.Equal(0, r.ExitCode);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(P("site.key.pem")));
        Assert.StartsWith("-----BEGIN PUBLIC KEY-----", await File.ReadAllTextAsync(P("site.pub.pem"), TestContext.Current.CancellationToken));
        Assert.Equal(1, (await CliProcess.RunAsync("keygen", "--out", P("site"))).ExitCode);
    }

    [Fact]
    public async Task Signed_bundle_verifies_with_its_public_key()
    {
        var bundle = await SignedDemoAsync();

        var r = await CliProcess.RunAsync("bundle", "verify", bundle, "--trust", P("site.pub.pem"), "--provider", "cpu", "--warmup", "1");

        Assert.Equal(0, r.ExitCode);
        Assert.StartsWith("VALID: m2snet-s-", r.Stdout.Trim());
        Assert.Contains("self-test on the golden input", r.Stderr);
    }

    [Fact]
    public async Task Bundle_signed_by_another_key_fails_verification_at_the_signature()
    {
        var bundle = await SignedDemoAsync();
        Assert.Equal(0, (await CliProcess.RunAsync("keygen", "--out", P("other"))).ExitCode);

        var r = await CliProcess.RunAsync("bundle", "verify", bundle, "--trust", P("other.pub.pem"), "--provider", "cpu");

        Assert.Equal(1, r.ExitCode);
        Assert.Contains("m2s: REJECTED at Signature: the manifest's signature is not from a trusted key", r.Stderr);
    }

    [Fact]
    public async Task Bundle_whose_model_was_swapped_fails_verification_at_the_hash()
    {
        var bundle = await SignedDemoAsync();
        using (var zip = ZipFile.Open(bundle, ZipArchiveMode.Update))
        {
            zip.GetEntry("model.onnx")!.Delete();
            using var entry = zip.CreateEntry("model.onnx").Open();
            entry.Write(await File.ReadAllBytesAsync(DemoModel, TestContext.Current.CancellationToken));
            entry.WriteByte(0);
        }

        var r = await CliProcess.RunAsync("bundle", "verify", bundle, "--trust", P("site.pub.pem"), "--provider", "cpu");

        Assert.Equal(1, r.ExitCode);
        Assert.Contains("m2s: REJECTED at Hash: model.onnx has SHA-256", r.Stderr);
    }

    [Fact]
    public async Task Bundle_for_another_input_size_fails_verification_when_the_size_is_given()
    {
        var bundle = await SignedDemoAsync();

        var r = await CliProcess.RunAsync("bundle", "verify", bundle, "--trust", P("site.pub.pem"), "--input-size", "352x352", "--provider", "cpu");

        Assert.Equal(1, r.ExitCode);
        Assert.Contains("m2s: REJECTED at InputSize: the manifest is for 224x224 input; this appliance runs 352x352", r.Stderr);
    }

    [Fact]
    public async Task A_private_key_given_as_trusted_key_is_refused()
    {
        var bundle = await SignedDemoAsync();

        var r = await CliProcess.RunAsync("bundle", "verify", bundle, "--trust", P("site.key.pem"));

        Assert.Equal(1, r.ExitCode);
        Assert.Contains("holds a private key; only public keys belong with the trusted keys", r.Stderr);
    }
}
