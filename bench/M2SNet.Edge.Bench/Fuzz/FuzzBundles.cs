using System.IO.Compression;
using M2SNet.Edge.Deployment;
using M2SNet.Edge.Onnx;

namespace M2SNet.Edge.Bench.Fuzz;

/// <summary>
/// The valid bundle the bundle fuzz damages, and the means to sign and pack variants of it: a
/// small network (every logit a constant, so it loads, self-tests and warms up in milliseconds)
/// with the demo model's input and output names, a manifest with a golden pair it passes, signed
/// by a key whose public half is the daemon's only trusted key.
/// </summary>
internal sealed class FuzzBundles : IDisposable
{
    private const float Logit = 8;

    public FuzzBundles(string work)
    {
        Key = BundleSigningKey.Generate();
        Untrusted = BundleSigningKey.Generate();
        TrustDirectory = Directory.CreateDirectory(Path.Combine(work, "trusted")).FullName;
        File.WriteAllText(Path.Combine(TrustDirectory, "fuzz.pub.pem"), Key.PublicKeyPem());
        Onnx = ConstantOnnx();
        ManifestBytes = System.Text.Encoding.UTF8.GetBytes(Manifest(Onnx).ToJson());
        Signature = Key.Sign(ManifestBytes);
        Valid = Pack([(ModelBundle.OnnxEntry, Onnx), (ModelBundle.ManifestEntry, ManifestBytes), (ModelBundle.SignatureEntry, Signature)]);
    }

    public BundleSigningKey Key { get; }

    /// <summary>A well-formed key the daemon does not trust.</summary>
    public BundleSigningKey Untrusted { get; }

    public string TrustDirectory { get; }

    public byte[] Onnx { get; }

    public byte[] ManifestBytes { get; }

    public byte[] Signature { get; }

    /// <summary>The whole valid bundle, as m2s bundle create lays it out.</summary>
    public byte[] Valid { get; }

    public static byte[] Pack(IEnumerable<(string Name, byte[] Bytes)> entries)
    {
        using var buffer = new MemoryStream();
        using (var zip = new ZipArchive(buffer, ZipArchiveMode.Create, leaveOpen: true))
        {
            foreach (var (name, bytes) in entries)
            {
                using var entry = zip.CreateEntry(name).Open();
                entry.Write(bytes);
            }
        }
        return buffer.ToArray();
    }

    /// <summary>The entries of a zip as they would be unpacked, or null when it does not open as one.</summary>
    public static Dictionary<string, byte[]>? Entries(byte[] zip)
    {
        try
        {
            using var archive = new ZipArchive(new MemoryStream(zip), ZipArchiveMode.Read);
            var entries = new Dictionary<string, byte[]>(StringComparer.Ordinal);
            foreach (var e in archive.Entries)
            {
                using var s = e.Open();
                using var copy = new MemoryStream();
                s.CopyTo(copy);
                if (!entries.TryAdd(e.FullName, copy.ToArray())) return null;
            }
            return entries;
        }
        catch (Exception e) when (e is InvalidDataException or IOException or NotSupportedException or ArgumentException)
        {
            return null;
        }
    }

    private static byte[] ConstantOnnx()
    {
        var g = new OnnxGraphBuilder("fuzz_constant");
        var x = g.Input("image", TensorElementKind.Float, 1, 3, "height", "width");
        var channel = g.Node("Slice", [x, g.Int64s("c_start", 0), g.Int64s("c_end", 1), g.Int64s("c_axis", 1)]);
        var zero = g.Node("Mul", [channel, g.Initializer("zero", [0f], 1)]);
        var logits = g.Node("Add", [zero, g.Initializer("bias", [Logit], 1)], "logits");
        g.Output(logits, TensorElementKind.Float, 1, 1, "height", "width");
        return g.ToBytes();
    }

    private static ModelManifest Manifest(byte[] onnx)
    {
        var demoPath = Path.Combine(AppContext.BaseDirectory, "models", "m2snet-s-demo.onnx");
        var demo = ModelManifest.FromJson(File.ReadAllText(ModelManifest.PathFor(demoPath)));
        var input = new float[3 * 32 * 32];
        for (var i = 0; i < input.Length; i++) input[i] = i % 7 / 7f;
        var output = Enumerable.Repeat(Logit, 32 * 32).ToArray();
        return demo with
        {
            ModelId = "fuzz-constant",
            Architecture = "constant",
            Version = "0.0.1",
            OnnxFile = ModelBundle.OnnxEntry,
            OnnxSha256 = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(onnx)),
            OnnxBytes = onnx.Length,
            Golden = new ModelManifest.GoldenPair([1, 3, 32, 32], ModelManifest.GoldenPair.Encode(input), [1, 1, 32, 32],
                ModelManifest.GoldenPair.Encode(output), "logits", 0.01),
        };
    }

    public void Dispose()
    {
        Key.Dispose();
        Untrusted.Dispose();
    }
}
