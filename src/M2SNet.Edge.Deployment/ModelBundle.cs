using System.IO.Compression;
using M2SNet.Edge.Onnx;

namespace M2SNet.Edge.Deployment;

/// <summary>
/// A model bundle: one zip file holding <c>model.onnx</c>, its manifest <c>model.json</c> and
/// <c>model.json.sig</c>, an ECDSA P-256 / SHA-256 signature over the manifest's exact bytes in
/// DER form (what <c>openssl dgst -sha256 -sign key.pem model.json</c> writes). The manifest holds
/// the ONNX file's SHA-256, so one signature covers both files.
/// </summary>
public static class ModelBundle
{
    public const string Extension = ".m2sbundle";

    public const string OnnxEntry = "model.onnx";

    public const string ManifestEntry = "model.json";

    public const string SignatureEntry = "model.json.sig";

    /// <summary>The largest manifest a bundle may carry (it holds a base64 golden pair, not weights).</summary>
    public const long MaxManifestBytes = 16 * 1024 * 1024;

    private const long MaxSignatureBytes = 1024;

    /// <summary>
    /// Packs an exported model (the .onnx with its manifest beside it) into a signed bundle. The
    /// manifest is rewritten to name the file inside the bundle, then signed.
    /// </summary>
    public static ModelManifest Create(string onnxPath, string bundlePath, BundleSigningKey key)
    {
        if (!File.Exists(onnxPath)) throw new FileNotFoundException($"model not found: {onnxPath}", onnxPath);
        var manifestPath = ModelManifest.PathFor(onnxPath);
        if (!File.Exists(manifestPath)) throw new FileNotFoundException($"the model has no manifest: {manifestPath} is missing (m2s export writes it)", manifestPath);
        var manifest = ModelManifest.FromJson(File.ReadAllText(manifestPath));
        var sha = ModelManifest.Sha256Of(onnxPath);
        if (!string.Equals(sha, manifest.OnnxSha256, StringComparison.OrdinalIgnoreCase))
        {
            throw new InvalidDataException($"{onnxPath} does not match its manifest (SHA-256 {sha}, manifest says {manifest.OnnxSha256}); export it again");
        }
        manifest = manifest with { OnnxFile = OnnxEntry, OnnxBytes = new FileInfo(onnxPath).Length };
        var manifestBytes = System.Text.Encoding.UTF8.GetBytes(manifest.ToJson());
        var signature = key.Sign(manifestBytes);

        var temporary = bundlePath + ".tmp";
        using (var file = new FileStream(temporary, FileMode.Create, FileAccess.Write))
        {
            using (var zip = new ZipArchive(file, ZipArchiveMode.Create, leaveOpen: true))
            {
                // ONNX weights hardly compress; storing them keeps unpacking at disk speed.
                zip.CreateEntryFromFile(onnxPath, OnnxEntry, CompressionLevel.NoCompression);
                Write(zip, ManifestEntry, manifestBytes);
                Write(zip, SignatureEntry, signature);
            }
            file.Flush(flushToDisk: true);
        }
        File.Move(temporary, bundlePath, overwrite: true);
        return manifest;
    }

    /// <summary>
    /// Extracts a bundle into <paramref name="directory"/> (which must be empty or absent). Anything
    /// that is not exactly the three expected entries, or larger than the caps, is refused.
    /// </summary>
    public static UnpackedBundle Unpack(string bundlePath, string directory, long maxOnnxBytes)
    {
        Directory.CreateDirectory(directory);
        ZipArchive zip;
        try
        {
            zip = ZipFile.OpenRead(bundlePath);
        }
        catch (InvalidDataException e)
        {
            throw new BundleRejectedException(BundleCheck.Format, $"not a model bundle (a zip file was expected): {e.Message}");
        }
        using (zip)
        {
            List<string> names;
            try
            {
                // The central directory is read here, on first use, not when the file is opened.
                names = [.. zip.Entries.Select(e => e.FullName)];
            }
            catch (InvalidDataException e)
            {
                throw new BundleRejectedException(BundleCheck.Format, $"not a model bundle (its zip directory is damaged): {e.Message}");
            }
            string[] expected = [OnnxEntry, ManifestEntry, SignatureEntry];
            var missing = expected.Except(names).ToList();
            if (missing.Count > 0) throw new BundleRejectedException(BundleCheck.Format, $"the bundle lacks {string.Join(", ", missing)}");
            var extra = names.Except(expected).ToList();
            if (extra.Count > 0 || names.Count != expected.Length)
            {
                throw new BundleRejectedException(BundleCheck.Format, $"the bundle holds unexpected entries: {string.Join(", ", extra.DefaultIfEmpty("duplicates"))}");
            }
            try
            {
                var manifest = ReadCapped(zip.GetEntry(ManifestEntry)!, MaxManifestBytes);
                var signature = ReadCapped(zip.GetEntry(SignatureEntry)!, MaxSignatureBytes);
                var onnxPath = Path.Combine(directory, OnnxEntry);
                using (var source = OpenCapped(zip.GetEntry(OnnxEntry)!, maxOnnxBytes))
                using (var target = new FileStream(onnxPath, FileMode.CreateNew, FileAccess.Write))
                {
                    CopyCapped(source, target, maxOnnxBytes, OnnxEntry);
                    target.Flush(flushToDisk: true);
                }
                var manifestPath = Path.Combine(directory, ManifestEntry);
                File.WriteAllBytes(manifestPath, manifest);
                File.WriteAllBytes(Path.Combine(directory, SignatureEntry), signature);
                return new UnpackedBundle(directory, onnxPath, manifestPath, manifest, signature);
            }
            catch (Exception e) when (e is InvalidDataException or NotSupportedException)
            {
                throw new BundleRejectedException(BundleCheck.Format, $"the bundle is damaged: {e.Message}");
            }
        }
    }

    /// <summary>The three files of a bundle that was unpacked before (into the model store).</summary>
    public static UnpackedBundle Read(string directory)
    {
        var manifestPath = Path.Combine(directory, ManifestEntry);
        var signaturePath = Path.Combine(directory, SignatureEntry);
        var onnxPath = Path.Combine(directory, OnnxEntry);
        foreach (var path in new[] { manifestPath, signaturePath, onnxPath })
        {
            if (!File.Exists(path)) throw new BundleRejectedException(BundleCheck.Format, $"{path} is missing");
        }
        return new UnpackedBundle(directory, onnxPath, manifestPath, File.ReadAllBytes(manifestPath), File.ReadAllBytes(signaturePath));
    }

    private static void Write(ZipArchive zip, string name, byte[] bytes)
    {
        using var stream = zip.CreateEntry(name, CompressionLevel.Optimal).Open();
        stream.Write(bytes);
    }

    private static Stream OpenCapped(ZipArchiveEntry entry, long cap)
    {
        if (entry.Length > cap) throw new BundleRejectedException(BundleCheck.Format, $"{entry.FullName} is {entry.Length} bytes, more than the {cap} allowed");
        return entry.Open();
    }

    private static byte[] ReadCapped(ZipArchiveEntry entry, long cap)
    {
        using var source = OpenCapped(entry, cap);
        using var buffer = new MemoryStream();
        CopyCapped(source, buffer, cap, entry.FullName);
        return buffer.ToArray();
    }

    // The sizes in a zip's directory are the sender's word; the bytes actually inflated are counted too.
    private static void CopyCapped(Stream source, Stream target, long cap, string name)
    {
        var buffer = new byte[81920];
        long total = 0;
        int read;
        while ((read = source.Read(buffer)) > 0)
        {
            total += read;
            if (total > cap) throw new BundleRejectedException(BundleCheck.Format, $"{name} inflates to more than the {cap} bytes allowed");
            target.Write(buffer, 0, read);
        }
    }
}

/// <summary>A bundle's files on disk, with the manifest's exact bytes and the signature over them.</summary>
public sealed record UnpackedBundle(string Directory, string OnnxPath, string ManifestPath, byte[] ManifestBytes, byte[] Signature);
