using System.Diagnostics;
using M2SNet.Edge.Daemon.Configuration;
using M2SNet.Edge.Daemon.Observability;
using M2SNet.Edge.Daemon.Pipeline;
using M2SNet.Edge.Deployment;
using M2SNet.Edge.Inference;
using Microsoft.ML.OnnxRuntime;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;


namespace M2SNet.Edge.Daemon.Models;

public enum ModelAdminProblem
{
    NotFound,
    NothingToRollBack,
    StoreUnavailable,
}

/// <summary>A model operation that cannot be done, for a reason other than the bundle itself.</summary>
public sealed class ModelAdminException(ModelAdminProblem problem, string message) : Exception(message)
{
    public ModelAdminProblem Problem { get; } = problem;
}

/// <summary>A model as the admin service lists it.</summary>
public sealed record ModelEntry(StoredModelRecord Record, bool Active, bool Previous)
{
    public bool Factory => Record.Key == ModelStore.FactoryKey;
}

/// <summary>What an install, activation or rollback did.</summary>
public sealed record ModelChange(ModelEntry Model, bool Activated, ModelEntry? Replaced, double ValidationSeconds, string Message);

/// <summary>
/// Changes the running model, one change at a time: every candidate (an upload, a bundle in the
/// drop folder, a stored model asked for again, the model saved as active at start-up) goes
/// through <see cref="ModelBundleValidator"/> on a worker thread while the old model keeps
/// serving; only a model that is loaded, self-tested and warm is swapped in, between two frames.
/// The choice is written to disk before the swap, and every attempt goes to the audit log.
/// </summary>
public sealed class ModelUpdater : IDisposable
{
    private readonly DaemonOptions _options;
    private readonly ActivePipeline _active;
    private readonly DaemonState _state;
    private readonly ILogger _log;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly ModelStore? _store;
    private readonly string? _storeProblem;
    private string? _factoryChoice;
    /// <summary>The factory model as its manifest on disk describes it (read when asked: the file is the truth).</summary>
    private StoredModelRecord? Factory => ReadFactoryRecord();

    public ModelUpdater(IOptions<DaemonOptions> options, ActivePipeline active, DaemonState state, ILogger<ModelUpdater> log)
    {
        _options = options.Value;
        _active = active;
        _state = state;
        _log = log;
        var root = _options.Models.ResolveStateDirectory();
        try
        {
            _store = new ModelStore(root);
            Uploads = new UploadSessions(_store.UploadsDirectory, _options.Models.MaxBundleBytes, _options.Models.MinFreeBytes,
                TimeSpan.FromHours(_options.Models.UploadExpiryHours));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // The daemon still runs its configured model; updates say why they cannot happen.
            _storeProblem = $"the model store {root} cannot be used: {e.Message}";
            _log.LogError("{Problem}; model updates are off", _storeProblem);
        }
    }

    public UploadSessions? Uploads { get; }

    public ModelStore Store => _store ?? throw new ModelAdminException(ModelAdminProblem.StoreUnavailable, _storeProblem!);

    /// <summary>
    /// The model to start with: the one saved as active if it still validates (else the one before
    /// it), otherwise the configured factory model. Runs on the caller's thread.
    /// </summary>
    public FrameStages LoadAtStartup()
    {
        if (_store is not null)
        {
            var saved = _store.ReadState();
            foreach (var key in new[] { saved.Active, saved.Previous }.OfType<string>().Where(k => k != ModelStore.FactoryKey).Distinct())
            {
                try
                {
                    var record = _store.Find(key) ?? throw new ModelAdminException(ModelAdminProblem.NotFound, $"model {Services.ClientText.Quote(key)} is not in the store");
                    _state.Set(Readiness.Starting, $"validating the saved model {key}");
                    var validated = Validate(o => ModelBundleValidator.Validate(ModelBundle.Read(_store.DirectoryOf(key)), o));
                    _store.Audit.Append(new AuditEntry(DateTimeOffset.UtcNow, "startup", "state.json", "activated", key, SignedBy: validated.KeyId));
                    if (key != saved.Active) _store.WriteState(new ModelStoreState(key, saved.Active));
                    _log.LogInformation("Starting on the saved model {Key}", key);
                    return StagesFor(validated.Model);
                }
                catch (Exception e) when (e is BundleRejectedException or ModelAdminException or IOException)
                {
                    var (check, reason) = e is BundleRejectedException r ? (r.Check.ToString(), r.Reason) : (null, e.Message);
                    _log.LogCritical("The saved model {Key} cannot be used ({Reason}); falling back", key, e.Message);
                    _store.Audit.Append(new AuditEntry(DateTimeOffset.UtcNow, "startup", "state.json", "rejected", key, check, reason));
                }
            }
            if (saved.Active != ModelStore.FactoryKey) _store.WriteState(new ModelStoreState(ModelStore.FactoryKey, null));
        }
        return StagesFor(LoadFactory());
    }

    /// <summary>Validates a bundle file, stores it and (unless <paramref name="stageOnly"/>) activates it.</summary>
    public async Task<ModelChange> InstallAsync(string bundlePath, string origin, bool stageOnly, CancellationToken cancel)
    {
        var store = Store;
        await _gate.WaitAsync(cancel).ConfigureAwait(false);
        string? bundleSha = null;
        string? staging = null;
        try
        {
            bundleSha = Onnx.ModelManifest.Sha256Of(bundlePath);
            staging = store.CreateStagingDirectory();
            var clock = Stopwatch.StartNew();
            var validated = await BackgroundPriority.Run(() => Validate(o => ModelBundleValidator.Validate(bundlePath, staging, o,
                new Progress(_log, Path.GetFileName(bundlePath)))), "m2s-validate").ConfigureAwait(false);
            var seconds = clock.Elapsed.TotalSeconds;
            StoredModelRecord record;
            try
            {
                record = store.Commit(staging, validated, origin);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                validated.Model.Dispose();
                throw new BundleRejectedException(BundleCheck.Storage, $"cannot store the model: {e.Message}", e);
            }
            staging = null;
            if (stageOnly)
            {
                validated.Model.Dispose();
                store.Audit.Append(new AuditEntry(DateTimeOffset.UtcNow, "install", origin, "stored", record.Key, BundleSha256: bundleSha, SignedBy: record.SignedBy));
                return new ModelChange(Entry(record), false, null, seconds, $"{record.Key} validated and stored; still running {_active.Stages?.Identity.Id}");
            }
            return Activate(record, validated.Model, "install", origin, seconds, bundleSha);
        }
        catch (BundleRejectedException e)
        {
            store.Audit.Append(new AuditEntry(DateTimeOffset.UtcNow, "install", origin, "rejected", null, e.Check.ToString(), e.Reason, bundleSha));
            _log.LogWarning("Bundle from {Origin} rejected at {Check}: {Reason}; the running model is unchanged", origin, e.Check, e.Reason);
            throw;
        }
        finally
        {
            if (staging is not null && Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
            _gate.Release();
        }
    }

    /// <summary>Validates a stored model (or the factory model) again and makes it the active one.</summary>
    public async Task<ModelChange> ActivateAsync(string key, string origin, CancellationToken cancel, string action = "activate")
    {
        var store = Store;
        await _gate.WaitAsync(cancel).ConfigureAwait(false);
        try
        {
            var clock = Stopwatch.StartNew();
            StoredModelRecord record;
            SegmentationModel model;
            try
            {
                if (key == ModelStore.FactoryKey)
                {
                    model = await BackgroundPriority.Run(LoadFactory, "m2s-validate").ConfigureAwait(false);
                    record = Factory!;
                }
                else
                {
                    record = store.Find(key) ?? throw new ModelAdminException(ModelAdminProblem.NotFound, $"no stored model has key '{Services.ClientText.Quote(key)}' (ListModels shows them)");
                    var validated = await BackgroundPriority.Run(() => Validate(o => ModelBundleValidator.Validate(ModelBundle.Read(store.DirectoryOf(key)), o,
                        new Progress(_log, key))), "m2s-validate").ConfigureAwait(false);
                    model = validated.Model;
                }
            }
            catch (Exception e) when (e is BundleRejectedException or ModelLoadException)
            {
                var (check, reason) = e is BundleRejectedException r ? (r.Check.ToString(), r.Reason) : (BundleCheck.Load.ToString(), e.Message);
                store.Audit.Append(new AuditEntry(DateTimeOffset.UtcNow, action, origin, "rejected", key, check, reason));
                throw e as BundleRejectedException ?? new BundleRejectedException(BundleCheck.Load, e.Message, e);
            }
            return Activate(record, model, action, origin, clock.Elapsed.TotalSeconds, null);
        }
        catch (ModelAdminException e)
        {
            store.Audit.Append(new AuditEntry(DateTimeOffset.UtcNow, action, origin, "refused", key, Reason: e.Message));
            throw;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Returns to the model that was active before the current one.</summary>
    public Task<ModelChange> RollbackAsync(string origin, CancellationToken cancel)
    {
        var state = Store.ReadState();
        if (state.Previous is null)
        {
            Store.Audit.Append(new AuditEntry(DateTimeOffset.UtcNow, "rollback", origin, "refused", state.Active, Reason: "no previous model"));
            throw new ModelAdminException(ModelAdminProblem.NothingToRollBack, $"there is no previous model to roll back to (active: {state.Active})");
        }
        return ActivateAsync(state.Previous, origin, cancel, "rollback");
    }

    public IReadOnlyList<ModelEntry> List()
    {
        var state = Store.ReadState();
        IEnumerable<StoredModelRecord> records = Store.List();
        if (Factory is { } factory) records = records.Prepend(factory);
        return [.. records.Select(r => new ModelEntry(r, r.Key == state.Active, r.Key == state.Previous))];
    }

    public void Dispose() => _gate.Dispose();

    private ModelChange Activate(StoredModelRecord record, SegmentationModel model, string action, string origin, double seconds, string? bundleSha)
    {
        var store = Store;
        var before = store.ReadState();
        if (before.Active == record.Key && _active.Stages?.Model.Manifest.OnnxSha256 == model.Manifest.OnnxSha256 && action == "install")
        {
            // The same model again: nothing to swap, and Rollback keeps pointing where it did.
            model.Dispose();
            store.Audit.Append(new AuditEntry(DateTimeOffset.UtcNow, action, origin, "already active", record.Key, BundleSha256: bundleSha, SignedBy: record.SignedBy));
            return new ModelChange(Entry(record), true, null, seconds, $"{record.Key} is already the active model");
        }
        var replacedRecord = before.Active == ModelStore.FactoryKey ? Factory : store.Find(before.Active);
        try
        {
            // Saved first: if the disk refuses, nothing has changed.
            store.WriteState(new ModelStoreState(record.Key, before.Active == record.Key ? before.Previous : before.Active));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            model.Dispose();
            store.Audit.Append(new AuditEntry(DateTimeOffset.UtcNow, action, origin, "rejected", record.Key, nameof(BundleCheck.Storage), e.Message, bundleSha));
            throw new BundleRejectedException(BundleCheck.Storage, $"cannot save the active model choice: {e.Message}", e);
        }
        var stages = StagesFor(model);
        _active.Swap(stages);
        _state.Set(Readiness.Ready, "");
        store.Audit.Append(new AuditEntry(DateTimeOffset.UtcNow, action, origin, "activated", record.Key, BundleSha256: bundleSha, SignedBy: record.SignedBy));
        _log.LogInformation("Model {Key} active ({Action} from {Origin}; validated in {Seconds:0.00} s), replacing {Replaced}", record.Key, action, origin, seconds, before.Active);
        var now = store.ReadState();
        return new ModelChange(new ModelEntry(record, true, false), true,
            replacedRecord is null ? null : new ModelEntry(replacedRecord, false, replacedRecord.Key == now.Previous), seconds,
            $"{record.Key} is active; Rollback returns to {now.Previous ?? "nothing"}");
    }

    private ModelEntry Entry(StoredModelRecord record)
    {
        var state = Store.ReadState();
        return new ModelEntry(record, record.Key == state.Active, record.Key == state.Previous);
    }

    /// <summary>
    /// The model installed with the daemon (Daemon:Model:Path): trusted as part of the image, checked
    /// against its manifest, self-tested and warmed up. A list of paths (comma-separated; by default
    /// the demo model in float32 and in int8) names alternatives of one model: each is loaded and
    /// self-tested, and the fastest that passes runs, timed here on this machine's provider.
    /// </summary>
    private SegmentationModel LoadFactory()
    {
        var paths = FactoryPaths;
        if (paths.Count == 1) return LoadFactoryCandidate(paths[0], timedRuns: 0).Model;
        var trials = new List<FactoryTrial>();
        SegmentationModel? best = null;
        foreach (var path in paths)
        {
            try
            {
                var (model, median) = LoadFactoryCandidate(path, FactoryTimedRuns);
                trials.Add(new FactoryTrial(path, model.Manifest.Precision, median, null));
                if (FactoryChoice.Fastest(trials) == trials.Count - 1)
                {
                    best?.Dispose();
                    best = model;
                }
                else
                {
                    model.Dispose();
                }
            }
            catch (Exception e) when (e is ModelLoadException or ExecutionProviderException)
            {
                _log.LogWarning("Factory model {Path} not used: {Reason}", Path.GetFileName(path), e.Message);
                trials.Add(new FactoryTrial(path, "", null, e.Message));
            }
        }
        if (best is null)
        {
            throw new ModelLoadException("no factory model passed its checks: " + string.Join("; ", trials.Select(t => $"{Path.GetFileName(t.Path)}: {t.Failure}")));
        }
        _factoryChoice = trials[FactoryChoice.Fastest(trials)].Path;
        _log.LogInformation("Factory model {Chosen}: {Trials}", Path.GetFileName(_factoryChoice), FactoryChoice.Describe(trials));
        return best;
    }

    /// <summary>Runs timed after warm-up to compare alternatives of the factory model.</summary>
    private const int FactoryTimedRuns = 7;

    private (SegmentationModel Model, double MedianMs) LoadFactoryCandidate(string path, int timedRuns)
    {
        var o = _options.Model;
        _state.Set(Readiness.Starting, $"loading {Path.GetFileName(path)}");
        var model = SegmentationModel.Load(path, SessionSettingsFor(o, _options.Models.ResolveStateDirectory()));
        try
        {
            foreach (var failure in model.ProviderFailures)
            {
                _log.LogWarning("Execution provider {Provider} not used: {Reason}", failure.Provider.Name, failure.Reason);
            }
            _state.Set(Readiness.Starting, $"self-test of {Path.GetFileName(path)} on the manifest's golden input");
            var worst = model.SelfTest();
            _state.Set(Readiness.Starting, "warming up");
            var times = new List<double>(timedRuns);
            using (var buffers = model.CreateBuffers())
            {
                for (var i = 0; i < Math.Max(1, o.WarmupRuns); i++) model.Run(buffers);
                for (var i = 0; i < timedRuns; i++)
                {
                    var started = Stopwatch.GetTimestamp();
                    model.Run(buffers);
                    times.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                }
            }
            var m = model.Manifest;
            _log.LogInformation("Model {Id} {Version} ({Architecture}, {Precision}, {Height}x{Width}) ready on {Provider}; self-test max |Δp| {Worst:0.####}",
                m.ModelId, m.Version, m.Architecture, m.Precision, model.Height, model.Width, model.ExecutionProvider.Name, worst);
            return (model, times.Count == 0 ? 0 : times.Order().ElementAt(times.Count / 2));
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    private IReadOnlyList<string> FactoryPaths => _options.Model.Path.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
        .Select(p => Path.IsPathRooted(p) ? p : Path.Combine(AppContext.BaseDirectory, p)).ToList();

    /// <summary>The factory model that runs (or would): the one chosen among alternatives, else the first.</summary>
    private string FactoryPath => _factoryChoice ?? FactoryPaths[0];

    private StoredModelRecord? ReadFactoryRecord()
    {
        try
        {
            var m = Onnx.ModelManifest.FromJson(File.ReadAllText(Onnx.ModelManifest.PathFor(FactoryPath)));
            return new StoredModelRecord(ModelStore.FactoryKey, m.ModelId, m.Version, m.Architecture, m.OnnxSha256, "", File.GetLastWriteTimeUtc(FactoryPath), "factory", m.Input.Shape, m.Precision);
        }
        catch (Exception e) when (e is IOException or System.Text.Json.JsonException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Validates with the trusted keys as they are on disk now (a key added to the folder counts without a restart).</summary>
    private ValidatedModel Validate(Func<BundleValidationOptions, ValidatedModel> validate)
    {
        using var trust = TrustedKeys.Load(DaemonOptionsValidator.TrustedKeyPaths(_options.Models));
        return validate(ValidationOptions(trust));
    }

    private BundleValidationOptions ValidationOptions(TrustedKeys trust) => new()
    {
        Trust = trust,
        Session = () => SessionSettingsFor(_options.Model, _options.Models.ResolveStateDirectory()),
        RequiredInputSize = DaemonOptionsValidator.ParseInputSize(_options.Models.RequiredInputSize),
        WarmupRuns = _options.Model.WarmupRuns,
        MaxOnnxBytes = _options.Models.MaxBundleBytes,
    };

    private static FrameStages StagesFor(SegmentationModel model)
    {
        var m = model.Manifest;
        return new FrameStages(model, new ModelIdentity(m.ModelId, m.Version, model.OutputsLogits, model.Threshold));
    }

    /// <summary>Session settings from the configuration; TensorRT caches its engines under the state folder unless told otherwise.</summary>
    internal static SessionSettings SessionSettingsFor(ModelOptions o, string stateDirectory) => new()
    {
        IntraOpNumThreads = o.Threads,
        ExecutionProviders = [.. o.Providers.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(p => p.ToLowerInvariant() switch
        {
            "tensorrt" or "trt" => new TensorRTExecutionProvider(o.DeviceId, o.TensorRtFp16,
                o.TensorRtCachePath ?? Path.Combine(stateDirectory, "trt-cache"), o.TensorRtOptions),
            "cuda" => new CudaExecutionProvider(o.DeviceId, o.CudaOptions),
            _ => ExecutionProvider.Parse(p, o.DeviceId),
        })],
    };

    private sealed class Progress(ILogger log, string what) : IProgress<string>
    {
        public void Report(string value) => log.LogInformation("{Bundle}: {Step}", what, value);
    }
}
