using System.Security.Cryptography;

namespace M2SNet.Edge.Deployment;

/// <summary>
/// The private key that signs bundles: ECDSA on NIST P-256 with SHA-256. PEM files are PKCS#8
/// ("PRIVATE KEY") and SubjectPublicKeyInfo ("PUBLIC KEY"), the forms openssl reads and writes.
/// </summary>
public sealed class BundleSigningKey : IDisposable
{
    private readonly ECDsa _key;

    private BundleSigningKey(ECDsa key) => _key = key;

    public static BundleSigningKey Generate() => new(ECDsa.Create(ECCurve.NamedCurves.nistP256));

    public static BundleSigningKey FromPemFile(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"signing key not found: {path}", path);
        var key = ECDsa.Create();
        try
        {
            key.ImportFromPem(File.ReadAllText(path));
        }
        catch (Exception e) when (e is ArgumentException or CryptographicException)
        {
            key.Dispose();
            throw new InvalidDataException($"{path} is not an EC private key in PEM form: {e.Message}");
        }
        var curve = key.ExportParameters(false).Curve;
        if (key.KeySize != 256 || curve.Oid.Value != ECCurve.NamedCurves.nistP256.Oid.Value)
        {
            key.Dispose();
            throw new InvalidDataException($"{path}: bundles are signed with P-256 keys, this key is on {curve.Oid.FriendlyName ?? curve.Oid.Value}");
        }
        try
        {
            key.ExportECPrivateKey();
        }
        catch (CryptographicException)
        {
            key.Dispose();
            throw new InvalidDataException($"{path} holds a public key; signing needs the private key");
        }
        return new BundleSigningKey(key);
    }

    /// <summary>Short fingerprint of the public key (first 16 hex digits of the SHA-256 of its SubjectPublicKeyInfo).</summary>
    public string KeyId => TrustedKeys.Fingerprint(_key);

    public string PrivateKeyPem() => _key.ExportPkcs8PrivateKeyPem();

    public string PublicKeyPem() => _key.ExportSubjectPublicKeyInfoPem();

    public byte[] Sign(ReadOnlySpan<byte> data) =>
        _key.SignData(data, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);

    public void Dispose() => _key.Dispose();
}

/// <summary>The public keys an appliance accepts bundles from (PEM files, one key each).</summary>
public sealed class TrustedKeys : IDisposable
{
    private readonly List<(string Id, string Source, ECDsa Key)> _keys;

    private TrustedKeys(List<(string, string, ECDsa)> keys) => _keys = keys;

    public static TrustedKeys None { get; } = new([]);

    public IReadOnlyList<string> KeyIds => [.. _keys.Select(k => k.Id)];

    public IReadOnlyList<string> Sources => [.. _keys.Select(k => k.Source)];

    public int Count => _keys.Count;

    /// <summary>Loads every *.pem file of the given files and folders; a file that is not a P-256 public key is an error.</summary>
    public static TrustedKeys Load(IEnumerable<string> filesOrFolders)
    {
        var keys = new List<(string, string, ECDsa)>();
        foreach (var entry in filesOrFolders)
        {
            var files = Directory.Exists(entry) ? Directory.GetFiles(entry, "*.pem").Order(StringComparer.Ordinal).ToArray()
                : File.Exists(entry) ? [entry]
                : throw new FileNotFoundException($"trusted key not found: {entry}", entry);
            foreach (var file in files) keys.Add(LoadPublicKey(file));
        }
        return new TrustedKeys(keys);
    }

    /// <summary>The id of the trusted key that made <paramref name="signature"/> over <paramref name="data"/>, or null.</summary>
    public string? Verify(ReadOnlySpan<byte> data, ReadOnlySpan<byte> signature)
    {
        foreach (var (id, _, key) in _keys)
        {
            if (key.VerifyData(data, signature, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence)) return id;
        }
        return null;
    }

    public static string Fingerprint(ECDsa key) =>
        Convert.ToHexStringLower(SHA256.HashData(key.ExportSubjectPublicKeyInfo()))[..16];

    public void Dispose()
    {
        foreach (var (_, _, key) in _keys) key.Dispose();
    }

    private static (string, string, ECDsa) LoadPublicKey(string file)
    {
        var text = File.ReadAllText(file);
        if (text.Contains("PRIVATE KEY", StringComparison.Ordinal))
        {
            throw new InvalidDataException($"{file} holds a private key; only public keys belong with the trusted keys");
        }
        var key = ECDsa.Create();
        try
        {
            key.ImportFromPem(text);
        }
        catch (Exception e) when (e is ArgumentException or CryptographicException)
        {
            key.Dispose();
            throw new InvalidDataException($"{file} is not an EC public key in PEM form: {e.Message}");
        }
        if (key.KeySize != 256)
        {
            key.Dispose();
            throw new InvalidDataException($"{file}: trusted keys must be P-256, this one has {key.KeySize} bits");
        }
        return (Fingerprint(key), file, key);
    }
}
