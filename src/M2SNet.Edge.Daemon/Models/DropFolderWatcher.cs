using System.Text.Json;
using M2SNet.Edge.Daemon.Configuration;
using M2SNet.Edge.Deployment;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace M2SNet.Edge.Daemon.Models;

/// <summary>
/// Installs bundles put into a folder (typically where a USB stick is mounted): polled rather than
/// watched, because removable and network file systems do not all report changes; a file is
/// taken once its size and time stopped changing between two polls. Each bundle (by SHA-256) is
/// tried once, also across restarts, so a stick left in does not undo a later rollback.
/// </summary>
public sealed class DropFolderWatcher(IOptions<DaemonOptions> options, ModelUpdater updater, ILogger<DropFolderWatcher> log) : BackgroundService
{
    private readonly Dictionary<string, (long Length, DateTime Written)> _seenLastPoll = [];

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var o = options.Value.Models;
        if (string.IsNullOrWhiteSpace(o.DropFolder)) return;
        ModelStore store;
        try
        {
            store = updater.Store;
        }
        catch (ModelAdminException e)
        {
            log.LogError("Drop folder {Folder} is not watched: {Reason}", o.DropFolder, e.Message);
            return;
        }
        var triedPath = Path.Combine(store.Root, "drop-folder-tried.json");
        var tried = File.Exists(triedPath) ? JsonSerializer.Deserialize<HashSet<string>>(File.ReadAllText(triedPath)) ?? [] : [];
        log.LogInformation("Watching {Folder} for model bundles ({Extension})", o.DropFolder, ModelBundle.Extension);
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(o.DropFolderPollSeconds));
        do
        {
            foreach (var file in StableBundles(o.DropFolder!))
            {
                string sha;
                try
                {
                    sha = Onnx.ModelManifest.Sha256Of(file);
                }
                catch (IOException e)
                {
                    log.LogWarning("Cannot read {File}: {Reason}", file, e.Message);
                    continue;
                }
                if (!tried.Add(sha)) continue;
                DurableFile.WriteAllText(triedPath, JsonSerializer.Serialize(tried));
                try
                {
                    var change = await updater.InstallAsync(file, $"drop folder {file}", stageOnly: false, stoppingToken).ConfigureAwait(false);
                    log.LogInformation("Drop folder: {Message}", change.Message);
                }
                catch (Exception e) when (e is BundleRejectedException or ModelAdminException or IOException)
                {
                    // Already logged and audited by the updater; the running model is unchanged.
                    log.LogWarning("Drop folder: {File} not installed: {Reason}", file, e.Message);
                }
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
    }

    private List<string> StableBundles(string folder)
    {
        var stable = new List<string>();
        if (!Directory.Exists(folder)) return stable;
        var now = new Dictionary<string, (long, DateTime)>();
        foreach (var file in Directory.EnumerateFiles(folder, "*" + ModelBundle.Extension))
        {
            var info = new FileInfo(file);
            var mark = (info.Length, info.LastWriteTimeUtc);
            now[file] = mark;
            if (_seenLastPoll.TryGetValue(file, out var before) && before == mark) stable.Add(file);
        }
        _seenLastPoll.Clear();
        foreach (var (k, v) in now) _seenLastPoll[k] = v;
        return stable;
    }
}
