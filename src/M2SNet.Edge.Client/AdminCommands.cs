using System.CommandLine;
using System.Globalization;
using System.Security.Cryptography;
using Grpc.Core;
using M2SNet.Edge.Protocol;
using M2SNet.Edge.Protocol.V1;
using Spectre.Console;

namespace M2SNet.Edge.Client;

/// <summary>
/// Model administration (ModelAdmin): <c>models</c>, <c>upload</c>, <c>activate</c>, <c>rollback</c>.
/// An upload resumes by itself: its id is derived from the bundle's SHA-256, so running the same
/// command again after a broken connection continues where the daemon stopped receiving.
/// </summary>
public static class AdminCommands
{
    /// <summary>A model's precision as a daemon reports it; one from before precision was reported runs float32.</summary>
    internal static string PrecisionText(string precision) => precision.Length > 0 ? precision : "float32";

    public static Command Models()
    {
        var command = new Command("models", "The factory model and the stored bundles; which is active and which Rollback returns to.");
        command.SetAction(async (parse, cancel) =>
        {
            using var channel = Connection.Open(parse);
            var list = await channel.Admin.ListModelsAsync(new ListModelsRequest(), new CallOptions(deadline: DateTime.UtcNow.AddSeconds(10), cancellationToken: cancel));
            var table = new Table().AddColumns("", "key", "model", "input", "signed by", "installed", "origin");
            foreach (var m in list.Models)
            {
                table.AddRow(m.Active ? "[green]active[/]" : m.Previous ? "previous" : "", Markup.Escape(m.Key), Markup.Escape($"{m.Id} {m.Version} ({m.Architecture}, {PrecisionText(m.Precision)})"),
                    string.Join("x", m.InputShape.Skip(2).Reverse()), m.Factory ? "(factory)" : m.SignedBy,
                    DateTimeOffset.FromUnixTimeMilliseconds(m.InstalledUnixMs).ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture), Markup.Escape(m.Origin));
            }
            AnsiConsole.Write(table);
            return 0;
        });
        return command;
    }

    public static Command Upload()
    {
        var file = new Argument<FileInfo>("bundle") { Description = "the signed bundle (m2s bundle create)" };
        var stageOnly = new Option<bool>("--stage-only") { Description = "validate and store it, but keep the running model" };
        var command = new Command("upload", "Send a signed model bundle; the daemon validates it and swaps it in between two frames. Resumes a broken upload.") { file, stageOnly };
        command.SetAction(async (parse, cancel) =>
        {
            var bundle = parse.GetValue(file)!;
            if (!bundle.Exists) throw new ArgumentException($"bundle not found: {bundle.FullName}");
            string sha;
            await using (var stream = bundle.OpenRead()) sha = Convert.ToHexStringLower(await SHA256.HashDataAsync(stream, cancel));
            var uploadId = "m2s-" + sha[..32];
            using var channel = Connection.Open(parse);
            var admin = channel.Admin;
            var status = await admin.GetUploadStatusAsync(new GetUploadStatusRequest { UploadId = uploadId }, new CallOptions(deadline: DateTime.UtcNow.AddSeconds(10), cancellationToken: cancel));
            var offset = status.Exists && status.TotalBytes == (ulong)bundle.Length ? (long)status.ReceivedBytes : 0;
            if (offset > 0) Console.Error.WriteLine($"m2s-client: resuming at {offset / 1048576.0:F1} of {bundle.Length / 1048576.0:F1} MiB");

            var result = await AnsiConsole.Progress().AutoClear(false).Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new TransferSpeedColumn())
                .StartAsync(async progress =>
                {
                    var sending = progress.AddTask($"upload {bundle.Name}", maxValue: bundle.Length);
                    sending.Increment(offset);
                    var validating = progress.AddTask("validate (signature, hash, load, self-test, warm-up)", autoStart: false, maxValue: 1);
                    await using var stream = bundle.OpenRead();
                    stream.Position = offset;
                    var reply = await BundleUpload.SendAsync(admin, stream, offset, bundle.Length, uploadId, sha, parse.GetValue(stageOnly), bundle.Name,
                        sent: n => sending.Increment(n), uploaded: () => { validating.StartTask(); validating.IsIndeterminate = true; }, cancel: cancel);
                    validating.Value = 1;
                    return reply;
                });
            Print(result);
            return 0;
        });
        return command;
    }

    public static Command Activate()
    {
        var key = new Argument<string>("key") { Description = "a key from `m2s-client models` (\"factory\" for the installed model)" };
        var command = new Command("activate", "Validate a stored model again and make it the active one.") { key };
        command.SetAction(async (parse, cancel) =>
        {
            using var channel = Connection.Open(parse);
            Print(await channel.Admin.ActivateModelAsync(new ActivateModelRequest { Key = parse.GetValue(key)! }, new CallOptions(deadline: DateTime.UtcNow.AddMinutes(15), cancellationToken: cancel)));
            return 0;
        });
        return command;
    }

    public static Command Rollback()
    {
        var command = new Command("rollback", "Return to the model that was active before the current one.");
        command.SetAction(async (parse, cancel) =>
        {
            using var channel = Connection.Open(parse);
            Print(await channel.Admin.RollbackAsync(new RollbackRequest(), new CallOptions(deadline: DateTime.UtcNow.AddMinutes(15), cancellationToken: cancel)));
            return 0;
        });
        return command;
    }

    private static void Print(ModelOperationResult result)
    {
        var m = result.Model;
        var replacing = result.Replaced is { } r ? $", replacing {r.Key}" : "";
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{(result.Activated ? "active" : "stored")}: {m.Key} ({m.Id} {m.Version}), validated in {result.ValidationSeconds:F2} s{replacing}"));
        Console.WriteLine(result.Message);
    }
}
