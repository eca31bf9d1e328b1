using System.CommandLine;
using System.Globalization;
using M2SNet.Edge.Deployment;

namespace M2SNet.Edge.Cli;

/// <summary>
/// <c>m2s keygen</c>, <c>m2s bundle create</c> and <c>m2s bundle verify</c>: signed model bundles
/// for offline updates of the appliance, checked by the same validator the daemon runs.
/// </summary>
internal static class BundleCommand
{
    public static Command CreateKeygen()
    {
        var output = new Option<string>("--out") { Description = "path prefix: writes PREFIX.key.pem (private, mode 600) and PREFIX.pub.pem", Required = true };
        var force = new Option<bool>("--force") { Description = "overwrite existing key files" };
        var command = new Command("keygen", "Make an ECDSA P-256 key pair for signing model bundles.") { output, force };
        command.SetAction(parse => CliErrors.Guard(() =>
        {
            var prefix = parse.GetValue(output)!;
            var (privatePath, publicPath) = (prefix + ".key.pem", prefix + ".pub.pem");
            if (!parse.GetValue(force) && (File.Exists(privatePath) || File.Exists(publicPath)))
            {
                throw new CliException($"{privatePath} or {publicPath} exists; pass --force to replace the key (bundles signed with it will no longer verify)");
            }
            var folder = Path.GetDirectoryName(Path.GetFullPath(privatePath))!;
            Directory.CreateDirectory(folder);
            using var key = BundleSigningKey.Generate();
            WritePrivate(privatePath, key.PrivateKeyPem());
            File.WriteAllText(publicPath, key.PublicKeyPem() + "\n");
            Console.WriteLine($"private key: {privatePath} (keep it off the appliance)");
            Console.WriteLine($"public key:  {publicPath} (copy it into the appliance's firmware-config/trusted-keys/)");
            Console.WriteLine($"key id:      {key.KeyId}");
            return 0;
        }));
        return command;
    }

    public static Command CreateBundle()
    {
        var bundle = new Command("bundle", "Signed model bundles for offline updates of the appliance.");
        bundle.Subcommands.Add(Create());
        bundle.Subcommands.Add(Verify());
        return bundle;
    }

    private static Command Create()
    {
        var model = new Option<FileInfo>("--model") { Description = "the exported .onnx (its manifest .json beside it)", Required = true };
        var key = new Option<FileInfo>("--key") { Description = "the private key (PEM) from m2s keygen", Required = true };
        var output = new Option<FileInfo?>("--out") { Description = $"the bundle to write (default: beside the model, {ModelBundle.Extension})" };
        var command = new Command("create", "Pack an exported model and its manifest into a bundle signed with your key.") { model, key, output };
        command.SetAction(parse => CliErrors.Guard(() =>
        {
            var onnx = parse.GetValue(model)!.FullName;
            var target = parse.GetValue(output)?.FullName ?? Path.ChangeExtension(onnx, ModelBundle.Extension);
            using var signer = BundleSigningKey.FromPemFile(parse.GetValue(key)!.FullName);
            var manifest = ModelBundle.Create(onnx, target, signer);
            Console.WriteLine($"wrote {target}: {manifest.ModelId} {manifest.Version} ({manifest.Architecture}), signed by key {signer.KeyId}");
            return 0;
        }));
        return command;
    }

    private static Command Verify()
    {
        var file = new Argument<FileInfo>("bundle") { Description = "the bundle to check" };
        var trust = new Option<string[]>("--trust")
        {
            Description = "trusted public key (PEM) or folder of them; repeatable",
            Required = true,
            AllowMultipleArgumentsPerToken = true,
        };
        var inputSize = new Option<string?>("--input-size") { Description = "the network input the appliance runs, WIDTHxHEIGHT (default: any)" };
        var warmup = new Option<int>("--warmup") { Description = "warm-up runs", DefaultValueFactory = _ => 3 };
        var runtime = new RuntimeOptions();
        var command = new Command("verify", "Run the appliance's validator on a bundle: signature, manifest, hash, input size, ONNX Runtime load, self-test, warm-up. Exit code 1 names the failed check.")
        {
            file, trust, inputSize, warmup,
        };
        runtime.AddTo(command);
        command.SetAction(parse => CliErrors.Guard(() =>
        {
            var bundlePath = parse.GetValue(file)!.FullName;
            if (!File.Exists(bundlePath)) throw new CliException($"bundle not found: {bundlePath}");
            using var keys = TrustedKeys.Load(parse.GetValue(trust)!);
            runtime.InitializeEnvironment(parse);
            var options = new BundleValidationOptions
            {
                Trust = keys,
                Session = () => runtime.SessionSettings(parse),
                RequiredInputSize = BundleValidationOptions.ParseInputSize(parse.GetValue(inputSize)),
                WarmupRuns = parse.GetValue(warmup),
            };
            var work = Directory.CreateTempSubdirectory("m2s-verify-");
            try
            {
                var validated = ModelBundleValidator.Validate(bundlePath, work.FullName, options, new SyncProgress<string>(s => Console.Error.WriteLine($"  {s}")));
                using var model = validated.Model;
                var m = validated.Manifest;
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"VALID: {m.ModelId} {m.Version} ({m.Architecture}, input {m.Input.Shape[3]}x{m.Input.Shape[2]}), signed by key {validated.KeyId}, self-test max |Δp| {validated.SelfTestWorst:0.####} on {model.ExecutionProvider.Name}"));
                return 0;
            }
            catch (BundleRejectedException e)
            {
                Console.Error.WriteLine($"m2s: REJECTED at {e.Check}: {e.Reason}");
                return 1;
            }
            finally
            {
                work.Delete(recursive: true);
            }
        }));
        return command;
    }

    private static void WritePrivate(string path, string pem)
    {
        // Created with mode 600 from the start, so the key is never readable by others, not even briefly.
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        using var stream = new FileStream(path, options);
        using var writer = new StreamWriter(stream);
        writer.Write(pem + "\n");
    }
}
