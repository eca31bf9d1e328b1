using System.Text.Json;
using M2SNet.Edge.Onnx;
using M2SNet.Edge.Inference;
using Microsoft.ML.OnnxRuntime;

namespace M2SNet.Edge.Deployment;

/// <summary>The checks a bundle goes through, in order; a rejection names the one that failed.</summary>
public enum BundleCheck
{
    /// <summary>A zip with exactly model.onnx, model.json and model.json.sig, within the size caps.</summary>
    Format,
    /// <summary>The manifest is signed by a trusted key.</summary>
    Signature,
    /// <summary>The manifest parses and describes an image model this daemon can feed.</summary>
    Manifest,
    /// <summary>The ONNX file's SHA-256 and size are the manifest's.</summary>
    Hash,
    /// <summary>The manifest's input size is the one this appliance is set up for.</summary>
    InputSize,
    /// <summary>ONNX Runtime loads it on the configured execution providers.</summary>
    Load,
    /// <summary>The manifest's golden input gives its golden output within tolerance.</summary>
    SelfTest,
    /// <summary>Warm-up runs complete.</summary>
    WarmUp,
    /// <summary>The appliance could not store it (disk full, permissions).</summary>
    Storage,
}

/// <summary>A bundle that must not be activated, with the check that refused it and why.</summary>
public sealed class BundleRejectedException(BundleCheck check, string reason, Exception? inner = null)
    : Exception($"{check}: {reason}", inner)
{
    public BundleCheck Check { get; } = check;

    public string Reason { get; } = reason;
}

public sealed record BundleValidationOptions
{
    public required TrustedKeys Trust { get; init; }

    /// <summary>Session options for the execution providers the daemon runs (a fresh object per load).</summary>
    public required Func<SessionSettings> Session { get; init; }

    /// <summary>The network input (height, width) this appliance runs; null accepts any.</summary>
    public (int Height, int Width)? RequiredInputSize { get; init; }

    public int WarmupRuns { get; init; } = 3;

    public long MaxOnnxBytes { get; init; } = 1L << 30;

    /// <summary>"224x224" (width x height) → (224, 224) as (height, width); empty → null (any size).</summary>
    public static (int Height, int Width)? ParseInputSize(string? text)
    {
        if (string.IsNullOrWhiteSpace(text)) return null;
        var parts = text.Split('x', 'X');
        if (parts.Length == 2 && int.TryParse(parts[0], System.Globalization.CultureInfo.InvariantCulture, out var w)
            && int.TryParse(parts[1], System.Globalization.CultureInfo.InvariantCulture, out var h) && w > 0 && h > 0)
        {
            return (h, w);
        }
        throw new ArgumentException($"input size '{text}' is not WIDTHxHEIGHT (e.g. 352x352)");
    }
}

/// <summary>A bundle that passed every check: its model is loaded, self-tested and warm.</summary>
public sealed record ValidatedModel(SegmentationModel Model, string KeyId, double SelfTestWorst, string Directory)
{
    public ModelManifest Manifest => Model.Manifest;
}

/// <summary>
/// The one validator of model bundles: the daemon runs it on uploads, the drop folder and stored
/// models before activating them, and <c>m2s bundle verify</c> runs it offline. Untrusted bytes
/// are only parsed after the signature over them checks out.
/// </summary>
public static class ModelBundleValidator
{
    /// <summary>Unpacks <paramref name="bundlePath"/> into <paramref name="directory"/> and validates it.</summary>
    public static ValidatedModel Validate(string bundlePath, string directory, BundleValidationOptions options, IProgress<string>? progress = null)
    {
        progress?.Report("unpacking");
        UnpackedBundle bundle;
        try
        {
            bundle = ModelBundle.Unpack(bundlePath, directory, options.MaxOnnxBytes);
        }
        catch (IOException e) when (e is not FileNotFoundException)
        {
            throw new BundleRejectedException(BundleCheck.Storage, $"cannot unpack the bundle into {directory}: {e.Message}", e);
        }
        return Validate(bundle, options, progress);
    }

    /// <summary>Validates a bundle already on disk (a stored model, before it is activated again).</summary>
    public static ValidatedModel Validate(UnpackedBundle bundle, BundleValidationOptions options, IProgress<string>? progress = null)
    {
        progress?.Report("checking the signature");
        if (options.Trust.Count == 0) throw new BundleRejectedException(BundleCheck.Signature, "no trusted keys are configured, so no bundle can be accepted");
        var keyId = options.Trust.Verify(bundle.ManifestBytes, bundle.Signature)
            ?? throw new BundleRejectedException(BundleCheck.Signature, $"the manifest's signature is not from a trusted key (trusted: {string.Join(", ", options.Trust.KeyIds)})");

        progress?.Report("checking the manifest");
        var manifest = ParseManifest(bundle.ManifestBytes);

        progress?.Report("checking the model's SHA-256");
        var sha = ModelManifest.Sha256Of(bundle.OnnxPath);
        if (!string.Equals(sha, manifest.OnnxSha256, StringComparison.OrdinalIgnoreCase))
        {
            throw new BundleRejectedException(BundleCheck.Hash, $"model.onnx has SHA-256 {sha}, the signed manifest says {manifest.OnnxSha256}");
        }
        var bytes = new FileInfo(bundle.OnnxPath).Length;
        if (manifest.OnnxBytes > 0 && bytes != manifest.OnnxBytes)
        {
            throw new BundleRejectedException(BundleCheck.Hash, $"model.onnx is {bytes} bytes, the signed manifest says {manifest.OnnxBytes}");
        }

        var (height, width) = ((int)manifest.Input.Shape[2], (int)manifest.Input.Shape[3]);
        if (options.RequiredInputSize is { } required && (required.Height, required.Width) != (height, width))
        {
            throw new BundleRejectedException(BundleCheck.InputSize,
                $"the manifest is for {width}x{height} input; this appliance runs {required.Width}x{required.Height}");
        }

        progress?.Report("loading with ONNX Runtime");
        SegmentationModel model;
        try
        {
            model = SegmentationModel.Load(bundle.OnnxPath, options.Session());
        }
        catch (Exception e) when (e is ModelLoadException or OnnxRuntimeException or ExecutionProviderException or OrtLibraryException)
        {
            throw new BundleRejectedException(BundleCheck.Load, e.Message, e);
        }
        try
        {
            progress?.Report("self-test on the golden input");
            double worst;
            try
            {
                worst = model.SelfTest();
            }
            catch (Exception e) when (e is ModelLoadException or OnnxRuntimeException)
            {
                throw new BundleRejectedException(BundleCheck.SelfTest, e.Message, e);
            }
            progress?.Report("warming up");
            try
            {
                using var buffers = model.CreateBuffers();
                for (var i = 0; i < Math.Max(1, options.WarmupRuns); i++) model.Run(buffers);
            }
            catch (OnnxRuntimeException e)
            {
                throw new BundleRejectedException(BundleCheck.WarmUp, e.Message, e);
            }
            return new ValidatedModel(model, keyId, worst, bundle.Directory);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    private static ModelManifest ParseManifest(byte[] bytes)
    {
        ModelManifest manifest;
        try
        {
            manifest = ModelManifest.FromJson(System.Text.Encoding.UTF8.GetString(bytes));
        }
        catch (Exception e) when (e is JsonException or InvalidDataException or ArgumentException or NotSupportedException)
        {
            throw new BundleRejectedException(BundleCheck.Manifest, $"model.json is not a valid manifest: {e.Message}");
        }
        string? problem = manifest switch
        {
            { Format: not ModelManifest.CurrentFormat } => $"format '{manifest.Format}' is not {ModelManifest.CurrentFormat}",
            { OnnxFile: not ModelBundle.OnnxEntry } => $"onnx_file is '{manifest.OnnxFile}', a bundle's model is {ModelBundle.OnnxEntry}",
            { ModelId: null or "" } => "model_id is empty",
            { Version: null or "" } => "version is empty",
            { Input.Shape: not [1, 3, > 0, > 0] } => $"input shape [{string.Join(", ", manifest.Input.Shape)}] is not [1, 3, height, width]",
            { Input.Layout: not "NCHW" } => $"input layout {manifest.Input.Layout} is not NCHW",
            { Input.Mean.Length: not 3 } or { Input.Std.Length: not 3 } => "input mean and std need 3 values each",
            { Output.Semantics: not ("logits" or "probability") } => $"output semantics '{manifest.Output.Semantics}' is not logits or probability",
            { Output.Threshold: <= 0 or >= 1 } => $"output threshold {manifest.Output.Threshold} is not between 0 and 1",
            { OnnxSha256.Length: not 64 } => "onnx_sha256 is not a SHA-256 in hex",
            _ => null,
        };
        if (problem is not null) throw new BundleRejectedException(BundleCheck.Manifest, problem);
        return manifest;
    }
}
