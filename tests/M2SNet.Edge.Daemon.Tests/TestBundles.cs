using System.IO.Compression;
using M2SNet.Edge.Deployment;
using Grpc.Core;
using M2SNet.Edge.Onnx;
using M2SNet.Edge.Protocol;
using M2SNet.Edge.Protocol.V1;

namespace M2SNet.Edge.Daemon.Tests;

/// <summary>
/// Signed bundles for the update tests: the bundled demo model, and a "constant" model that calls
/// every pixel of the field of view lesion, so a mask tells which of the two made it.
/// </summary>
public static class TestBundles
{
    private static readonly Lazy<(BundleSigningKey Key, string TrustDirectory)> s_trusted = new(() =>
    {
        var key = BundleSigningKey.Generate();
        var folder = Directory.CreateTempSubdirectory("m2s-trusted-").FullName;
        File.WriteAllText(Path.Combine(folder, "site.pub.pem"), key.PublicKeyPem());
        return (key, folder);
    });

    public static BundleSigningKey Key => s_trusted.Value.Key;

    /// <summary>A folder with the public key of <see cref="Key"/>, for Daemon:Models:TrustedKeys.</summary>
    public static string TrustDirectory => s_trusted.Value.TrustDirectory;

    public static string DemoOnnxPath => Path.Combine(AppContext.BaseDirectory, "models", "m2snet-s-demo.onnx");

    public static ModelManifest DemoManifest => ModelManifest.FromJson(File.ReadAllText(ModelManifest.PathFor(DemoOnnxPath)));

    /// <summary>The demo model, signed with <see cref="Key"/> (by ModelBundle.Create, as m2s bundle create does).</summary>
    public static byte[] Demo(string version = "1.0.0")
    {
        var folder = Directory.CreateTempSubdirectory("m2s-bundle-").FullName;
        var onnx = Path.Combine(folder, "demo.onnx");
        File.Copy(DemoOnnxPath, onnx);
        File.WriteAllText(ModelManifest.PathFor(onnx), (DemoManifest with { Version = version }).ToJson());
        var bundle = Path.Combine(folder, "demo" + ModelBundle.Extension);
        ModelBundle.Create(onnx, bundle, Key);
        return File.ReadAllBytes(bundle);
    }

    public const float ConstantLogit = 8;

    /// <summary>A network with the demo's input and output names whose every logit is <see cref="ConstantLogit"/>.</summary>
    public static byte[] ConstantOnnx()
    {
        var g = new OnnxGraphBuilder("constant_lesion");
        var x = g.Input("image", TensorElementKind.Float, 1, 3, "height", "width");
        var channel = g.Node("Slice", [x, g.Int64s("c_start", 0), g.Int64s("c_end", 1), g.Int64s("c_axis", 1)]);
        var zero = g.Node("Mul", [channel, g.Initializer("zero", [0f], 1)]);
        var logits = g.Node("Add", [zero, g.Initializer("bias", [ConstantLogit], 1)], "logits");
        g.Output(logits, TensorElementKind.Float, 1, 1, "height", "width");
        return g.ToBytes();
    }

    /// <summary>The manifest of <see cref="ConstantOnnx"/>, with a golden pair it passes.</summary>
    public static ModelManifest ConstantManifest(byte[] onnx, string version = "1.0.0", int size = 224)
    {
        var demo = DemoManifest;
        var input = new float[3 * 32 * 32];
        for (var i = 0; i < input.Length; i++) input[i] = (i % 7) / 7f;
        var output = Enumerable.Repeat(ConstantLogit, 32 * 32).ToArray();
        return demo with
        {
            ModelId = "constant-lesion",
            Architecture = "constant",
            Version = version,
            Input = demo.Input with { Shape = [1, 3, size, size] },
            Output = demo.Output with { Shape = [1, 1, size, size] },
            OnnxFile = ModelBundle.OnnxEntry,
            OnnxSha256 = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(onnx)),
            OnnxBytes = onnx.Length,
            Golden = new ModelManifest.GoldenPair([1, 3, 32, 32], ModelManifest.GoldenPair.Encode(input), [1, 1, 32, 32],
                ModelManifest.GoldenPair.Encode(output), "logits", 0.01),
        };
    }

    public static byte[] Constant(string version = "1.0.0")
    {
        var onnx = ConstantOnnx();
        return Pack(onnx, ConstantManifest(onnx, version));
    }

    /// <summary>Packs a bundle by hand, so tests can make every kind of bad one.</summary>
    public static byte[] Pack(byte[] onnx, ModelManifest manifest, BundleSigningKey? signer = null, byte[]? manifestBytes = null, byte[]? signature = null)
    {
        manifestBytes ??= System.Text.Encoding.UTF8.GetBytes(manifest.ToJson());
        signature ??= (signer ?? Key).Sign(manifestBytes);
        using var buffer = new MemoryStream();
        using (var zip = new ZipArchive(buffer, ZipArchiveMode.Create, leaveOpen: true))
        {
            foreach (var (name, bytes) in new[] { (ModelBundle.OnnxEntry, onnx), (ModelBundle.ManifestEntry, manifestBytes), (ModelBundle.SignatureEntry, signature) })
            {
                using var entry = zip.CreateEntry(name).Open();
                entry.Write(bytes);
            }
        }
        return buffer.ToArray();
    }

    /// <summary>Sends a bundle in chunks as m2s-client does; <paramref name="stopAfter"/> ends the call early (a truncated upload).</summary>
    public static Task<ModelOperationResult> UploadAsync(ModelAdmin.ModelAdminClient admin, byte[] bundle, string? uploadId = null, bool stageOnly = false,
        int chunk = 256 * 1024, long offset = 0, long? stopAfter = null, string? sha256 = null)
    {
        var end = (int)Math.Min(bundle.Length, stopAfter ?? bundle.Length);
        var data = new MemoryStream(bundle, 0, end) { Position = Math.Min(offset, end) };
        return Client.BundleUpload.SendAsync(admin, data, offset, bundle.Length, uploadId ?? Guid.NewGuid().ToString("N"), sha256, stageOnly,
            "test" + ModelBundle.Extension, chunk);
    }

    public static Dictionary<string, string?> Settings(params (string Key, string? Value)[] more)
    {
        var settings = new Dictionary<string, string?> { ["Daemon:Models:TrustedKeys"] = TrustDirectory };
        foreach (var (k, v) in more) settings[k] = v;
        return settings;
    }
}
