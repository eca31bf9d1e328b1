using System.CommandLine;
using System.Security.Cryptography.X509Certificates;
using M2SNet.Edge.Protocol;

namespace M2SNet.Edge.Client;

/// <summary>Where the daemon is and how to reach it: the options every command shares.</summary>
public static class Connection
{
    public const string DefaultAddress = "http://127.0.0.1:50051";

    public static readonly Option<string> Address = new("--address", "-a")
    {
        Description = "the daemon's gRPC endpoint (default $M2S_ADDRESS or " + DefaultAddress + ")",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable("M2S_ADDRESS") is { Length: > 0 } a ? a : DefaultAddress,
        Recursive = true,
    };

    public static readonly Option<FileInfo?> Ca = new("--ca") { Description = "https: the CA (PEM) that issued the daemon's certificate", Recursive = true };

    public static readonly Option<FileInfo?> Cert = new("--cert") { Description = "https: this client's certificate (PEM), when the daemon asks for one", Recursive = true };

    public static readonly Option<FileInfo?> Key = new("--key") { Description = "https: the private key (PEM) of --cert", Recursive = true };

    public static readonly Option<FileInfo?> TokenFile = new("--token-file")
    {
        Description = "a file holding the appliance's video or admin token, sent as 'authorization: Bearer' (frames, masks or model administration from the network, over https)",
        Recursive = true,
    };

    public static DaemonConnection Open(ParseResult parse)
    {
        var address = parse.GetValue(Address)!;
        if (!address.Contains("://", StringComparison.Ordinal)) address = "http://" + address;
        var options = new DaemonConnectionOptions { MaxReceiveMessageSize = 64 * 1024 * 1024 };
        if (parse.GetValue(Ca) is { } ca) options = options with { TrustedCertificate = X509CertificateLoader.LoadCertificateFromFile(ca.FullName) };
        if (parse.GetValue(Cert) is { } cert)
        {
            var key = parse.GetValue(Key) ?? throw new ArgumentException("--cert needs --key");
            using var pem = X509Certificate2.CreateFromPemFile(cert.FullName, key.FullName);
            // Re-imported so that TLS on Linux can use the key.
            options = options with { ClientCertificate = X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pfx), null) };
        }
        if (parse.GetValue(TokenFile) is { } tokenFile)
        {
            options = options with { Headers = new Dictionary<string, string> { ["authorization"] = "Bearer " + File.ReadAllText(tokenFile.FullName).Trim() } };
        }
        return DaemonConnection.Open(address, options);
    }
}
