using System.Text;
using System.Text.RegularExpressions;
using Grpc.Core;
using M2SNet.Edge.Client;
using M2SNet.Edge.Deployment;
using M2SNet.Edge.Protocol.V1;

namespace M2SNet.Edge.Bench.Fuzz;

/// <summary>
/// Damaged model bundles through ModelAdmin.UploadModel, sent whole and stage-only (validated
/// and stored, never activated, so a bundle that passes cannot change the running model): zips
/// cut short, bit-flipped, with damaged headers; the model, manifest or signature damaged inside
/// an intact zip; unsigned, signed by an untrusted key, a signed manifest with the wrong SHA-256
/// or broken JSON; entries missing, extra or doubled; an announced SHA-256 that does not match.
/// <para>
/// The rule: refused with a status whose message starts with the check that failed
/// ("Format:", "Signature:", "Hash:", …, as the validator names them), or, for an empty file,
/// the upload's own "total_bytes must be given". A bundle may pass only when the damage left its
/// three entries byte for byte as they were (a flipped timestamp in a zip header), or when a value
/// was changed in a manifest the trusted key then signed (authentic, so every check decides); the model
/// running before is checked to be the one running after the run.
/// </para>
/// </summary>
internal sealed partial class BundleFuzzer(ModelAdmin.ModelAdminClient admin, FuzzBundles bundles) : IFuzzTarget
{
    public string Category => "bundles";

    public async Task<FuzzAnswer> RunAsync(Random r, CancellationToken cancel)
    {
        var (bytes, what, announced) = Generate(r);
        // A value changed in a manifest the trusted key signed is an authentic manifest: the validator decides.
        var signedChange = what.StartsWith("signed manifest with ", StringComparison.Ordinal);
        var id = $"fuzz-{r.Next():x8}";
        try
        {
            var result = await BundleUpload.SendAsync(admin, new MemoryStream(bytes), 0, bytes.Length, id, announced, stageOnly: true, "fuzz.m2sbundle",
                cancel: cancel).ConfigureAwait(false);
            var intact = announced is null && FuzzBundles.Entries(bytes) is { } entries && entries.Count == 3
                && entries.TryGetValue(ModelBundle.OnnxEntry, out var onnx) && onnx.AsSpan().SequenceEqual(bundles.Onnx)
                && entries.TryGetValue(ModelBundle.ManifestEntry, out var manifest) && manifest.AsSpan().SequenceEqual(bundles.ManifestBytes)
                && entries.TryGetValue(ModelBundle.SignatureEntry, out var signature) && signature.AsSpan().SequenceEqual(bundles.Signature);
            return new FuzzAnswer(what, result.Activated ? "OK (activated)" : "OK (stored)", (intact || signedChange) && !result.Activated,
                intact ? "the damage left every entry as it was" : signedChange ? $"a signed change passed every check: {result.Message}" : $"a damaged bundle passed: {result.Message}");
        }
        catch (RpcException e)
        {
            var named = CheckName().IsMatch(e.Status.Detail) || (bytes.Length == 0 && e.Status.Detail.Contains("total_bytes", StringComparison.Ordinal));
            return new FuzzAnswer(what, StatusNames.Of(e.StatusCode), named && e.StatusCode is StatusCode.InvalidArgument or StatusCode.ResourceExhausted,
                e.Status.Detail);
        }
    }

    [GeneratedRegex(@"^(Format|Signature|Manifest|Hash|InputSize|Load|SelfTest|WarmUp|Storage): ")]
    private static partial Regex CheckName();

    private (byte[] Bytes, string What, string? Announced) Generate(Random r)
    {
        var valid = bundles.Valid;
        (string, byte[]) Onnx(byte[] b) => (ModelBundle.OnnxEntry, b);
        (string, byte[]) Manifest(byte[] b) => (ModelBundle.ManifestEntry, b);
        (string, byte[]) Signature(byte[] b) => (ModelBundle.SignatureEntry, b);
        switch (r.Next(14))
        {
            case 0:
            {
                var (bytes, what) = ByteMutations.Truncate(valid, r);
                return (bytes, "zip " + what, null);
            }
            case 1:
            {
                var (bytes, what) = ByteMutations.FlipBits(valid, r);
                return (bytes, "zip " + what, null);
            }
            case 2:
            {
                var (bytes, what) = ByteMutations.Any(valid, r);
                return (bytes, "zip " + what, null);
            }
            case 3:
            {
                var (onnx, what) = r.Next(2) == 0 ? ByteMutations.FlipBits(bundles.Onnx, r) : ByteMutations.Any(bundles.Onnx, r);
                return (FuzzBundles.Pack([Onnx(onnx), Manifest(bundles.ManifestBytes), Signature(bundles.Signature)]), "model.onnx " + what, null);
            }
            case 4:
            {
                var (manifest, what) = r.Next(2) == 0 ? ByteMutations.FlipBits(bundles.ManifestBytes, r) : ByteMutations.Any(bundles.ManifestBytes, r);
                return (FuzzBundles.Pack([Onnx(bundles.Onnx), Manifest(manifest), Signature(bundles.Signature)]), "model.json " + what + ", old signature", null);
            }
            case 5:
            {
                var (signature, what) = r.Next(2) == 0 ? ByteMutations.FlipBits(bundles.Signature, r) : ByteMutations.Any(bundles.Signature, r);
                return (FuzzBundles.Pack([Onnx(bundles.Onnx), Manifest(bundles.ManifestBytes), Signature(signature)]), "model.json.sig " + what, null);
            }
            case 6:
                return r.Next(2) == 0
                    ? (FuzzBundles.Pack([Onnx(bundles.Onnx), Manifest(bundles.ManifestBytes)]), "unsigned (no model.json.sig)", null)
                    : (FuzzBundles.Pack([Onnx(bundles.Onnx), Manifest(bundles.ManifestBytes), Signature([])]), "empty signature", null);
            case 7:
                return (FuzzBundles.Pack([Onnx(bundles.Onnx), Manifest(bundles.ManifestBytes), Signature(bundles.Untrusted.Sign(bundles.ManifestBytes))]),
                    "signed by an untrusted key", null);
            case 8:
            {
                var sha = Convert.ToHexStringLower(ByteMutations.RandomBytes(r, 32));
                var json = Regex.Replace(Encoding.UTF8.GetString(bundles.ManifestBytes), "\"onnx_sha256\": *\"[0-9a-f]*\"", $"\"onnx_sha256\": \"{sha}\"");
                return (Signed(json), "signed manifest with a wrong onnx_sha256", null);
            }
            case 9: return BrokenSignedManifest(r);
            case 10:
            {
                var sha = Convert.ToHexStringLower(ByteMutations.RandomBytes(r, 32));
                return (valid, "a valid bundle announced with another SHA-256", sha);
            }
            case 11:
            {
                (string, byte[])[] entries = r.Next(4) switch
                {
                    0 => [Onnx(bundles.Onnx), Manifest(bundles.ManifestBytes), Signature(bundles.Signature), ("extra.bin", [1, 2, 3])],
                    1 => [Onnx(bundles.Onnx), Onnx(bundles.Onnx), Manifest(bundles.ManifestBytes), Signature(bundles.Signature)],
                    2 => [Manifest(bundles.ManifestBytes), Signature(bundles.Signature)],
                    _ => [Onnx(bundles.Onnx), Manifest(bundles.ManifestBytes), Signature(bundles.Signature), ("../../escape.onnx", bundles.Onnx)],
                };
                return (FuzzBundles.Pack(entries), $"entries {string.Join(", ", entries.Select(e => e.Item1))}", null);
            }
            case 12:
            {
                var bytes = ByteMutations.RandomBytes(r, r.Next(0, 4096));
                if (r.Next(2) == 0 && bytes.Length >= 4) "PK\u0003\u0004"u8.CopyTo(bytes);
                return (bytes, $"{bytes.Length} random bytes", null);
            }
            default:
            {
                // The zip's own headers: local file headers and the central directory (sizes, offsets, names).
                var header = Headers(valid);
                var at = header[r.Next(header.Count)];
                var (bytes, what) = r.Next(2) == 0 ? ByteMutations.FlipBits(valid, r, at, at + 46) : ByteMutations.OverwriteRun(valid, r, at, at + 46);
                return (bytes, "zip header " + what, null);
            }
        }
    }

    private byte[] Signed(string manifest)
    {
        var bytes = Encoding.UTF8.GetBytes(manifest);
        return FuzzBundles.Pack([(ModelBundle.OnnxEntry, bundles.Onnx), (ModelBundle.ManifestEntry, bytes), (ModelBundle.SignatureEntry, bundles.Key.Sign(bytes))]);
    }

    /// <summary>A manifest signed by the trusted key that is not a valid one: cut short, or a value of the wrong kind.</summary>
    private (byte[], string, string?) BrokenSignedManifest(Random r)
    {
        var json = Encoding.UTF8.GetString(bundles.ManifestBytes).TrimEnd();
        if (r.Next(2) == 0)
        {
            // Cut before the closing brace, a JSON object is never complete.
            var keep = r.Next(0, json.Length - 1);
            return (Signed(json[..keep]), $"signed manifest cut to {keep} of {json.Length} characters", null);
        }
        string[] fields = ["model_id", "version", "input", "output", "onnx_sha256", "onnx_bytes", "golden", "shape", "mean", "std", "threshold"];
        string[] values = ["null", "-1", "\"\"", "[]", "{}", "1e309", "\"x\"", "[1,3,-224,0]", "99999999999999999999"];
        var field = fields[r.Next(fields.Length)];
        var value = values[r.Next(values.Length)];
        var changed = Regex.Replace(json, $"\"{field}\": *(\"[^\"]*\"|-?[0-9.eE+-]+|\\[[^\\]]*\\]|null|true|false)", $"\"{field}\": {value}");
        return (Signed(changed), $"signed manifest with {field} = {value}", null);
    }

    private static List<int> Headers(byte[] zip)
    {
        var offsets = new List<int>();
        for (var i = 0; i + 4 <= zip.Length; i++)
        {
            if (zip[i] == 'P' && zip[i + 1] == 'K' && zip[i + 2] is 1 or 3 or 5 && zip[i + 3] is 2 or 4 or 6) offsets.Add(i);
        }
        return offsets;
    }
}
