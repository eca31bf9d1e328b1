using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace M2SNet.Edge.Deployment;

/// <summary>
/// A site's own small PKI for one or more appliances, kept in one folder (the appliance's
/// /etc/m2snet-edge/tls): a site CA that issues the appliance's server certificate and the client
/// certificates of the OR's monitors and tablets, and the bearer token for clients that cannot hold
/// a certificate. Keys are ECDSA P-256; private keys and the token are written mode 600. Sites that
/// run their own CA put its certificates at the same paths instead.
/// </summary>
public sealed class SitePki(string directory)
{
    public const string CaCertificateFile = "ca.crt";
    public const string CaKeyFile = "ca.key";
    public const string ServerCertificateFile = "server.crt";
    public const string ServerKeyFile = "server.key";
    public const string VideoTokenFile = "video.token";

    private static readonly Oid s_serverAuth = new("1.3.6.1.5.5.7.3.1");
    private static readonly Oid s_clientAuth = new("1.3.6.1.5.5.7.3.2");

    public string Directory { get; } = Path.GetFullPath(directory);

    public string CaCertificatePath => Path.Combine(Directory, CaCertificateFile);

    public string CaKeyPath => Path.Combine(Directory, CaKeyFile);

    public string ServerCertificatePath => Path.Combine(Directory, ServerCertificateFile);

    public string ServerKeyPath => Path.Combine(Directory, ServerKeyFile);

    public string VideoTokenPath => Path.Combine(Directory, VideoTokenFile);

    /// <summary>
    /// Makes what is missing: the site CA (10 years), a server certificate for <paramref name="names"/>
    /// and <paramref name="addresses"/> (825 days, the longest clients accept), the video token.
    /// Existing files are kept unless <paramref name="renewServer"/> asks for a new server certificate
    /// (new names, or the old one expiring). Returns what was written.
    /// </summary>
    public IReadOnlyList<string> Initialize(IReadOnlyCollection<string> names, IReadOnlyCollection<IPAddress> addresses, bool renewServer = false)
    {
        if (names.Count == 0 && addresses.Count == 0) throw new ArgumentException("the server certificate needs at least one host name or address");
        System.IO.Directory.CreateDirectory(Directory);
        var written = new List<string>();
        if (!File.Exists(CaCertificatePath))
        {
            if (File.Exists(CaKeyPath)) throw new InvalidDataException($"{CaKeyPath} exists without {CaCertificateFile}; move it away or restore the certificate");
            using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var request = new CertificateRequest($"CN=M2SNet.Edge site CA ({Environment.MachineName})", key, HashAlgorithmName.SHA256);
            request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
            request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
            request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
            using var ca = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(10));
            WriteSecret(CaKeyPath, key.ExportPkcs8PrivateKeyPem());
            File.WriteAllText(CaCertificatePath, ca.ExportCertificatePem() + "\n");
            written.AddRange([CaCertificatePath, CaKeyPath]);
        }
        if (renewServer || !File.Exists(ServerCertificatePath) || !File.Exists(ServerKeyPath))
        {
            var san = new SubjectAlternativeNameBuilder();
            foreach (var name in names) san.AddDnsName(name);
            foreach (var address in addresses) san.AddIpAddress(address);
            var subject = names.FirstOrDefault() ?? addresses.First().ToString();
            var (certificate, key) = Issue($"CN={subject}", s_serverAuth, TimeSpan.FromDays(825), san.Build());
            using (certificate)
            using (key)
            {
                WriteSecret(ServerKeyPath, key.ExportPkcs8PrivateKeyPem());
                File.WriteAllText(ServerCertificatePath, certificate.ExportCertificatePem() + "\n");
            }
            written.AddRange([ServerCertificatePath, ServerKeyPath]);
        }
        if (!File.Exists(VideoTokenPath))
        {
            WriteSecret(VideoTokenPath, NewToken());
            written.Add(VideoTokenPath);
        }
        return written;
    }

    /// <summary>
    /// A client certificate for one OR device, issued by the site CA: NAME.crt and NAME.key (PEM,
    /// for m2s-client --cert/--key) and NAME.p12 (for a browser or tablet, protected by the returned password).
    /// </summary>
    public (string Certificate, string Key, string Pkcs12, string Password) IssueClient(string name, string outputDirectory, int days = 365)
    {
        if (string.IsNullOrWhiteSpace(name) || name.IndexOfAny([.. Path.GetInvalidFileNameChars(), ',', '=', '+']) >= 0)
        {
            throw new ArgumentException($"'{name}' is not a usable device name (letters, digits, '-' and '.')");
        }
        var (certificate, key) = Issue($"CN={name}", s_clientAuth, TimeSpan.FromDays(days), null);
        using (certificate)
        using (key)
        {
            System.IO.Directory.CreateDirectory(outputDirectory);
            var certPath = Path.Combine(outputDirectory, name + ".crt");
            var keyPath = Path.Combine(outputDirectory, name + ".key");
            var p12Path = Path.Combine(outputDirectory, name + ".p12");
            var password = NewToken()[..20];
            File.WriteAllText(certPath, certificate.ExportCertificatePem() + "\n");
            WriteSecret(keyPath, key.ExportPkcs8PrivateKeyPem());
            using var withKey = certificate.CopyWithPrivateKey(key);
            var pkcs12 = withKey.ExportPkcs12(Pkcs12ExportPbeParameters.Pbes2Aes256Sha256, password);
            WriteSecret(p12Path, pkcs12);
            return (certPath, keyPath, p12Path, password);
        }
    }

    /// <summary>32 random bytes, base64url: a bearer token or a session id.</summary>
    public static string NewToken() => Base64Url(RandomNumberGenerator.GetBytes(32));

    /// <summary>Writes a secret readable by its owner only (the file is created with that mode, never widened).</summary>
    public static void WriteSecret(string path, string text) => WriteSecret(path, System.Text.Encoding.UTF8.GetBytes(text.EndsWith('\n') ? text : text + "\n"));

    public static void WriteSecret(string path, ReadOnlySpan<byte> bytes)
    {
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        using (var stream = new FileStream(path, options)) stream.Write(bytes);
        // An existing file keeps its mode on FileMode.Create: narrowed here.
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
    }

    private (X509Certificate2 Certificate, ECDsa Key) Issue(string subject, Oid usage, TimeSpan lifetime, X509Extension? subjectAlternativeNames)
    {
        if (!File.Exists(CaCertificatePath) || !File.Exists(CaKeyPath))
        {
            throw new InvalidDataException($"no site CA in {Directory}: run 'm2s tls init' first (or put your CA's {CaCertificateFile} and {CaKeyFile} there)");
        }
        using var ca = X509Certificate2.CreateFromPemFile(CaCertificatePath, CaKeyPath);
        var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([usage], false));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(ca, includeKeyIdentifier: true, includeIssuerAndSerial: false));
        if (subjectAlternativeNames is not null) request.CertificateExtensions.Add(subjectAlternativeNames);
        var notAfter = DateTimeOffset.UtcNow.Add(lifetime);
        if (notAfter > ca.NotAfter) notAfter = ca.NotAfter;
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] = (byte)((serial[0] & 0x7F) | 0x01); // a positive, non-zero INTEGER
        var certificate = request.Create(ca, DateTimeOffset.UtcNow.AddDays(-1), notAfter, serial);
        return (certificate, key);
    }

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
