using M2SNet.Edge.Daemon.Models;
using M2SNet.Edge.Deployment;
using Grpc.Core;
using M2SNet.Edge.Protocol.V1;

namespace M2SNet.Edge.Daemon.Tests;

/// <summary>Offline model updates through ModelAdmin: upload, validation, activation, rollback, persistence, audit.</summary>
public sealed class ModelUpdateTests
{
    [Fact]
    public async Task Uploaded_bundle_becomes_the_active_model_and_rollback_returns_to_the_factory_model()
    {
        await using var daemon = await TestDaemon.StartAsync(TestBundles.Settings());
        var factory = (await daemon.Client.GetInfoAsync(new GetInfoRequest(), cancellationToken: TestContext.Current.CancellationToken)).Model;

        var result = await TestBundles.UploadAsync(daemon.Admin, TestBundles.Constant(), chunk: 4096);
        Assert.True(result.Activated, result.Message);
        Assert.Equal("constant-lesion", result.Model.Id);
        Assert.True(result.Replaced.Factory);
        Assert.Equal("constant-lesion", (await daemon.Client.GetInfoAsync(new GetInfoRequest(), cancellationToken: TestContext.Current.CancellationToken)).Model.Id);
        var list = await daemon.Admin.ListModelsAsync(new ListModelsRequest(), cancellationToken: TestContext.Current.CancellationToken);
        Assert.Equal(result.Model.Key, list.ActiveKey);
        Assert.Contains(list.Models, m => m.Factory && m.Previous);
        Assert.Equal(TestBundles.Key.KeyId, list.Models.Single(m => m.Active).SignedBy);

        var back = await daemon.Admin.RollbackAsync(new RollbackRequest(), cancellationToken: TestContext.Current.CancellationToken);
        Assert.True(back.Model.Factory);
        Assert.Equal(factory.Id, (await daemon.Client.GetInfoAsync(new GetInfoRequest(), cancellationToken: TestContext.Current.CancellationToken)).Model.Id);
    }

    [Fact]
    public async Task Daemon_whose_model_failed_starts_streaming_once_a_valid_bundle_arrives()
    {
        await using var daemon = await TestDaemon.StartAsync(TestBundles.Settings(("Daemon:Model:Path", "/nonexistent/model.onnx")), waitUntilServing: false);
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!(await daemon.Client.GetInfoAsync(new GetInfoRequest(), cancellationToken: TestContext.Current.CancellationToken)).NotReadyReason.Contains("model file not found", StringComparison.Ordinal) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100, TestContext.Current.CancellationToken);
        }
        Assert.Contains("model file not found", (await daemon.Client.GetInfoAsync(new GetInfoRequest(), cancellationToken: TestContext.Current.CancellationToken)).NotReadyReason);

        await TestBundles.UploadAsync(daemon.Admin, TestBundles.Constant());

        await daemon.WaitUntilServingAsync();
        using var call = daemon.Client.StreamMasks(new StreamMasksRequest { Options = new MaskOptions { Encoding = MaskEncoding.None } },
            new CallOptions(deadline: DateTime.UtcNow.AddSeconds(30), cancellationToken: TestContext.Current.CancellationToken));
        // The source opens and frames flow only if the pipeline started after the late model.
        Assert.True(await call.ResponseStream.MoveNext(TestContext.Current.CancellationToken));
        Assert.Equal("constant-lesion", call.ResponseStream.Current.Model.Id);
    }

    [Fact]
    public async Task Active_choice_survives_a_restart()
    {
        var settings = TestBundles.Settings(("Daemon:Models:StateDirectory", Directory.CreateTempSubdirectory("m2s-state-").FullName));
        string key;
        await using (var first = await TestDaemon.StartAsync(settings))
        {
            key = (await TestBundles.UploadAsync(first.Admin, TestBundles.Constant())).Model.Key;
        }
        await using var second = await TestDaemon.StartAsync(settings);
        Assert.Equal("constant-lesion", (await second.Client.GetInfoAsync(new GetInfoRequest(), cancellationToken: TestContext.Current.CancellationToken)).Model.Id);
        Assert.Equal(key, (await second.Admin.ListModelsAsync(new ListModelsRequest(), cancellationToken: TestContext.Current.CancellationToken)).ActiveKey);
    }

    [Fact]
    public async Task Saved_model_that_no_longer_validates_falls_back_to_the_factory_model()
    {
        var state = Directory.CreateTempSubdirectory("m2s-state-").FullName;
        var settings = TestBundles.Settings(("Daemon:Models:StateDirectory", state));
        string key;
        await using (var first = await TestDaemon.StartAsync(settings))
        {
            key = (await TestBundles.UploadAsync(first.Admin, TestBundles.Constant())).Model.Key;
        }
        // Someone edits the stored model on disk.
        await File.AppendAllTextAsync(Path.Combine(state, "models", key, ModelBundle.OnnxEntry), "tampered", TestContext.Current.CancellationToken);

        await using var second = await TestDaemon.StartAsync(settings);
        Assert.Equal(TestBundles.DemoManifest.ModelId, (await second.Client.GetInfoAsync(new GetInfoRequest(), cancellationToken: TestContext.Current.CancellationToken)).Model.Id);
        var audit = new AuditLog(Path.Combine(state, "audit.log")).Read();
        Assert.Contains(audit, e => e is { Action: "startup", Outcome: "rejected", Check: "Hash" } && e.Model == key);
    }

    [Fact]
    public async Task Upload_resumes_from_the_offset_the_daemon_reports()
    {
        await using var daemon = await TestDaemon.StartAsync(TestBundles.Settings());
        var bundle = TestBundles.Demo("1.1.0");
        var id = "resume-" + Guid.NewGuid().ToString("N")[..8];

        await StatusAssert.ThrowsAsync(StatusCode.Aborted,
            () => TestBundles.UploadAsync(daemon.Admin, bundle, id, chunk: 100_000, stopAfter: 1_000_000), "truncated");
        var status = await daemon.Admin.GetUploadStatusAsync(new GetUploadStatusRequest { UploadId = id }, cancellationToken: TestContext.Current.CancellationToken);
        Assert.True(status.Exists);
        Assert.Equal(1_000_000ul, status.ReceivedBytes);
        Assert.Equal((ulong)bundle.Length, status.TotalBytes);

        await StatusAssert.ThrowsAsync(StatusCode.OutOfRange, () => TestBundles.UploadAsync(daemon.Admin, bundle, id, offset: 500_000), "send from offset 1000000");
        var result = await TestBundles.UploadAsync(daemon.Admin, bundle, id, chunk: 100_000, offset: 1_000_000);
        Assert.True(result.Activated);
        Assert.Equal("1.1.0", (await daemon.Client.GetInfoAsync(new GetInfoRequest(), cancellationToken: TestContext.Current.CancellationToken)).Model.Version);
        Assert.False((await daemon.Admin.GetUploadStatusAsync(new GetUploadStatusRequest { UploadId = id }, cancellationToken: TestContext.Current.CancellationToken)).Exists);
    }

    public static TheoryData<string> InvalidBundles => ["bad signature", "untrusted key", "wrong hash", "damaged zip", "missing signature",
        "another input size", "fails self-test", "not an onnx model", "manifest schema"];

    [Theory]
    [MemberData(nameof(InvalidBundles))]
    public async Task Invalid_bundle_is_rejected_with_its_reason_and_the_active_model_is_kept(string kind)
    {
        await using var daemon = await TestDaemon.StartAsync(TestBundles.Settings(("Daemon:Models:RequiredInputSize", "224x224")));
        var before = (await daemon.Client.GetInfoAsync(new GetInfoRequest(), cancellationToken: TestContext.Current.CancellationToken)).Model;
        var onnx = TestBundles.ConstantOnnx();
        var manifest = TestBundles.ConstantManifest(onnx);
        var (bundle, check) = kind switch
        {
            "bad signature" => (TestBundles.Pack(onnx, manifest, signature: Flip(TestBundles.Key.Sign(System.Text.Encoding.UTF8.GetBytes(manifest.ToJson())))), "Signature"),
            "untrusted key" => (TestBundles.Pack(onnx, manifest, signer: BundleSigningKey.Generate()), "Signature"),
            "wrong hash" => (TestBundles.Pack([.. onnx, 0], manifest), "Hash"),
            "damaged zip" => (TestBundles.Constant()[..^200], "Format"),
            "missing signature" => (WithoutSignature(TestBundles.Constant()), "Format"),
            "another input size" => (TestBundles.Pack(onnx, TestBundles.ConstantManifest(onnx, size: 352)), "InputSize"),
            "fails self-test" => (TestBundles.Pack(onnx, manifest with
            {
                Golden = manifest.Golden with { OutputBase64 = Onnx.ModelManifest.GoldenPair.Encode(Enumerable.Repeat(-8f, 32 * 32).ToArray()) },
            }), "SelfTest"),
            "not an onnx model" => (TestBundles.Pack(new byte[4096], manifest with
            {
                OnnxSha256 = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(new byte[4096])),
                OnnxBytes = 4096,
            }), "Load"),
            "manifest schema" => (TestBundles.Pack(onnx, manifest, manifestBytes: "{\"format\": \"m2snet-edge-model/1\"}"u8.ToArray()), "Manifest"),
            _ => throw new ArgumentOutOfRangeException(nameof(kind)),
        };

        var e = await StatusAssert.ThrowsAsync(StatusCode.InvalidArgument, () => TestBundles.UploadAsync(daemon.Admin, bundle));
        Assert.StartsWith(check + ":", e.Status.Detail);
        var after = await daemon.Client.GetInfoAsync(new GetInfoRequest(), cancellationToken: TestContext.Current.CancellationToken);
        Assert.Equal(before.OnnxSha256, after.Model.OnnxSha256);
        Assert.True(after.Ready);
        Assert.DoesNotContain((await daemon.Admin.ListModelsAsync(new ListModelsRequest(), cancellationToken: TestContext.Current.CancellationToken)).Models, m => !m.Factory);
        var state = daemon.App.Services.GetService(typeof(ModelUpdater)) as ModelUpdater;
        Assert.Contains(state!.Store.Audit.Read(), a => a is { Action: "install", Outcome: "rejected" } && a.Check == check);
    }

    [Fact]
    public async Task Upload_larger_than_the_cap_or_the_free_disk_is_refused_before_any_byte_is_stored()
    {
        await using var daemon = await TestDaemon.StartAsync(TestBundles.Settings(("Daemon:Models:MaxBundleBytes", "1000000")));
        await StatusAssert.ThrowsAsync(StatusCode.ResourceExhausted, () => TestBundles.UploadAsync(daemon.Admin, TestBundles.Demo()), "at most 1000000");

        await using var full = await TestDaemon.StartAsync(TestBundles.Settings(("Daemon:Models:MinFreeBytes", long.MaxValue.ToString(System.Globalization.CultureInfo.InvariantCulture))));
        await StatusAssert.ThrowsAsync(StatusCode.ResourceExhausted, () => TestBundles.UploadAsync(full.Admin, TestBundles.Constant()), "disk full");
        Assert.True((await full.Client.GetInfoAsync(new GetInfoRequest(), cancellationToken: TestContext.Current.CancellationToken)).Ready);
    }

    [Fact]
    public async Task Rollback_without_a_previous_model_and_unknown_keys_are_refused()
    {
        await using var daemon = await TestDaemon.StartAsync(TestBundles.Settings());
        await StatusAssert.ThrowsAsync(StatusCode.FailedPrecondition, () => daemon.Admin.RollbackAsync(new RollbackRequest()), "no previous model");
        await StatusAssert.ThrowsAsync(StatusCode.NotFound, () => daemon.Admin.ActivateModelAsync(new ActivateModelRequest { Key = "no-such-model" }));
    }

    [Fact]
    public async Task Bundle_dropped_into_the_watched_folder_is_installed_once()
    {
        var drop = Directory.CreateTempSubdirectory("m2s-drop-").FullName;
        await using var daemon = await TestDaemon.StartAsync(TestBundles.Settings(("Daemon:Models:DropFolder", drop), ("Daemon:Models:DropFolderPollSeconds", "0.2")));
        await File.WriteAllBytesAsync(Path.Combine(drop, "bad" + ModelBundle.Extension), TestBundles.Pack(TestBundles.ConstantOnnx(),
            TestBundles.ConstantManifest(TestBundles.ConstantOnnx()), signer: BundleSigningKey.Generate()), TestContext.Current.CancellationToken);
        await File.WriteAllBytesAsync(Path.Combine(drop, "update" + ModelBundle.Extension), TestBundles.Constant("2.0.0"), TestContext.Current.CancellationToken);

        var deadline = DateTime.UtcNow.AddSeconds(60);
        while ((await daemon.Client.GetInfoAsync(new GetInfoRequest(), cancellationToken: TestContext.Current.CancellationToken)).Model.Id != "constant-lesion" && DateTime.UtcNow < deadline) await Task.Delay(200, TestContext.Current.CancellationToken);
        Assert.Equal("2.0.0", (await daemon.Client.GetInfoAsync(new GetInfoRequest(), cancellationToken: TestContext.Current.CancellationToken)).Model.Version);

        // Rolled back by an engineer while the stick is still in: the bundle is not installed again.
        await daemon.Admin.RollbackAsync(new RollbackRequest(), cancellationToken: TestContext.Current.CancellationToken);
        await Task.Delay(1500, TestContext.Current.CancellationToken);
        Assert.Equal(TestBundles.DemoManifest.ModelId, (await daemon.Client.GetInfoAsync(new GetInfoRequest(), cancellationToken: TestContext.Current.CancellationToken)).Model.Id);
        var updater = (ModelUpdater)daemon.App.Services.GetService(typeof(ModelUpdater))!;
        var audit = updater.Store.Audit.Read();
        Assert.Contains(audit, a => a is { Outcome: "rejected", Check: "Signature" } && a.Origin.Contains("bad", StringComparison.Ordinal));
        Assert.Single(audit, a => a is { Action: "install", Outcome: "activated" });
    }

    private static byte[] Flip(byte[] signature)
    {
        var copy = (byte[])signature.Clone();
        copy[^3] ^= 0x40;
        return copy;
    }

    private static byte[] WithoutSignature(byte[] bundle)
    {
        using var buffer = new MemoryStream();
        buffer.Write(bundle);
        using (var zip = new System.IO.Compression.ZipArchive(buffer, System.IO.Compression.ZipArchiveMode.Update, leaveOpen: true))
        {
            zip.GetEntry(ModelBundle.SignatureEntry)!.Delete();
        }
        return buffer.ToArray();
    }
}
