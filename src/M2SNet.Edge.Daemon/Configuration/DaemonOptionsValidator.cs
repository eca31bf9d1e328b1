using M2SNet.Edge.Daemon.Pipeline;
using M2SNet.Edge.Inference;
using Microsoft.ML.OnnxRuntime;
using M2SNet.Edge.Video;
using Microsoft.Extensions.Options;

namespace M2SNet.Edge.Daemon.Configuration;

/// <summary>
/// Checks the configuration before anything starts, so that a typo is one clear line, not a stack
/// trace: registered as the options' validator and run when the host starts (ValidateOnStart),
/// every error at once.
/// </summary>
public sealed class DaemonOptionsValidator : IValidateOptions<DaemonOptions>
{
    public ValidateOptionsResult Validate(string? name, DaemonOptions options)
    {
        var errors = Validate(options);
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    public static IReadOnlyList<string> TrustedKeyPaths(ModelUpdateOptions m) =>
        m.TrustedKeys.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    public static (int Height, int Width)? ParseInputSize(string? text)
    {
        try
        {
            return Deployment.BundleValidationOptions.ParseInputSize(text);
        }
        catch (ArgumentException e)
        {
            throw new ArgumentException($"Daemon:Models:RequiredInputSize: {e.Message}");
        }
    }

    private static void CheckTokenFile(string key, string? token, List<string> errors)
    {
        if (token is not { Length: > 0 }) return;
        if (!File.Exists(token)) errors.Add($"{key}: {token} does not exist (m2s tls init makes one)");
        else if (!OperatingSystem.IsWindows() && (File.GetUnixFileMode(token) & (UnixFileMode.GroupRead | UnixFileMode.OtherRead | UnixFileMode.GroupWrite | UnixFileMode.OtherWrite)) != 0)
        {
            errors.Add($"{key}: {token} is readable by group or others; chmod 600 it (owner: the service user)");
        }
        else if (File.ReadAllText(token).Trim().Length < 16) errors.Add($"{key}: {token} holds fewer than 16 characters");
    }

    public static IReadOnlyList<string> Validate(DaemonOptions o)
    {
        var errors = new List<string>();
        void Check(Action check)
        {
            try
            {
                check();
            }
            catch (ArgumentException e)
            {
                errors.Add(e.Message);
            }
        }

        if (!o.Source.Uri.Equals(SampleVideos.SourceName, StringComparison.OrdinalIgnoreCase))
        {
            Check(() => VideoSourceSpec.Parse(o.Source.Uri, o.Source.Backend));
        }
        Check(() => PipelineHost.ParseRegion(o.Source.RegionOfInterest));
        var providers = o.Model.Providers.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (providers.Length == 0) errors.Add("Daemon:Model:Providers is empty (e.g. \"CPU\" or \"TensorRT,CUDA,CPU\")");
        foreach (var p in providers) Check(() => ExecutionProvider.Parse(p));
        if (string.IsNullOrWhiteSpace(o.Model.Path)) errors.Add("Daemon:Model:Path is empty");
        if (o.Pipeline.StageSliceMicroseconds is < 0 or > 100_000) errors.Add($"Daemon:Pipeline:StageSliceMicroseconds must be 0 to 100000, not {o.Pipeline.StageSliceMicroseconds}");
        if (o.Pipeline.DecodeNice is < 0 or > 19) errors.Add($"Daemon:Pipeline:DecodeNice must be 0 to 19, not {o.Pipeline.DecodeNice}");
        if (o.Stream.JpegQuality is < 1 or > 100) errors.Add($"Daemon:Stream:JpegQuality {o.Stream.JpegQuality} is not within 1..100");
        if (o.Stream.MaxSubscribers < 1) errors.Add("Daemon:Stream:MaxSubscribers must be at least 1");
        if (o.Stream.DefaultEncoding == Protocol.V1.MaskEncoding.Unspecified) errors.Add("Daemon:Stream:DefaultEncoding must name an encoding");
        if (o.Limits.MaxReceiveMessageBytes < 1024 || o.Limits.MaxSendMessageBytes < 1024) errors.Add("Daemon:Limits message sizes must be at least 1024 bytes");
        if (o.Limits.MaxUnfinishedMessageBytes < o.Limits.MaxReceiveMessageBytes)
        {
            errors.Add($"Daemon:Limits:MaxUnfinishedMessageBytes ({o.Limits.MaxUnfinishedMessageBytes}) must be at least MaxReceiveMessageBytes ({o.Limits.MaxReceiveMessageBytes}), or no message of the largest size could arrive");
        }
        if (o.Limits.MaxUnfinishedMessageBytesPerPeer < o.Limits.MaxReceiveMessageBytes)
        {
            errors.Add($"Daemon:Limits:MaxUnfinishedMessageBytesPerPeer ({o.Limits.MaxUnfinishedMessageBytesPerPeer}) must be at least MaxReceiveMessageBytes ({o.Limits.MaxReceiveMessageBytes})");
        }
        if (o.Limits.MaxStreamsPerConnection < 1) errors.Add("Daemon:Limits:MaxStreamsPerConnection must be at least 1");
        if (o.Limits.MaxConnections < 2) errors.Add("Daemon:Limits:MaxConnections must be at least 2");
        if (o.Limits.MessageTimeoutSeconds < 0 || double.IsNaN(o.Limits.MessageTimeoutSeconds)) errors.Add("Daemon:Limits:MessageTimeoutSeconds must be 0 (no limit) or more");
        if (o.Limits.MaxFrameWidth < 32 || o.Limits.MaxFrameHeight < 32) errors.Add("Daemon:Limits:MaxFrameWidth/Height must be at least 32");

        foreach (var (key, url, required) in new[] { ("Daemon:Endpoints:Grpc", o.Endpoints.Grpc, true), ("Daemon:Endpoints:Http", o.Endpoints.Http, false) })
        {
            if (string.IsNullOrWhiteSpace(url))
            {
                if (required) errors.Add($"{key} is empty");
                continue;
            }
            Check(() => ListenAddress.Parse(url, key));
            if (url.StartsWith("https:", StringComparison.OrdinalIgnoreCase))
            {
                if (string.IsNullOrWhiteSpace(o.Tls.CertificatePath) || string.IsNullOrWhiteSpace(o.Tls.KeyPath))
                {
                    errors.Add($"{key} is https but Daemon:Tls:CertificatePath and KeyPath are not both set");
                }
            }
        }
        foreach (var (key, path) in new[] { ("Daemon:Tls:CertificatePath", o.Tls.CertificatePath), ("Daemon:Tls:KeyPath", o.Tls.KeyPath), ("Daemon:Tls:ClientCaPath", o.Tls.ClientCaPath) })
        {
            if (!string.IsNullOrWhiteSpace(path) && !File.Exists(path)) errors.Add($"{key}: {path} does not exist (m2s tls init makes the appliance's certificates)");
        }
        if (File.Exists(o.Tls.CertificatePath) && File.Exists(o.Tls.KeyPath))
        {
            try
            {
                using var certificate = System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPemFile(o.Tls.CertificatePath!, o.Tls.KeyPath);
            }
            catch (Exception e) when (e is System.Security.Cryptography.CryptographicException or ArgumentException)
            {
                errors.Add($"Daemon:Tls: the certificate {o.Tls.CertificatePath} with the key {o.Tls.KeyPath} cannot be loaded: {e.Message}");
            }
        }

        var m = o.Models;
        Check(() => ParseInputSize(m.RequiredInputSize));
        var missingKeys = TrustedKeyPaths(m).Where(key => !File.Exists(key) && !Directory.Exists(key)).ToList();
        foreach (var key in missingKeys) errors.Add($"Daemon:Models:TrustedKeys: {key} does not exist");
        if (missingKeys.Count == 0)
        {
            try
            {
                using var keys = Deployment.TrustedKeys.Load(TrustedKeyPaths(m));
            }
            catch (Exception e) when (e is InvalidDataException or IOException or UnauthorizedAccessException)
            {
                errors.Add($"Daemon:Models:TrustedKeys: {e.Message}");
            }
        }
        if (m.MaxBundleBytes < 1024) errors.Add("Daemon:Models:MaxBundleBytes must be at least 1024");
        if (m.DropFolderPollSeconds <= 0) errors.Add("Daemon:Models:DropFolderPollSeconds must be positive");
        CheckTokenFile("Daemon:Admin:TokenFile", o.Admin.TokenFile, errors);
        CheckTokenFile("Daemon:Video:TokenFile", o.Video.TokenFile, errors);
        if (o.Video.SessionHours <= 0) errors.Add("Daemon:Video:SessionHours must be positive");
        if (o.Video.MaxSessions < 1) errors.Add("Daemon:Video:MaxSessions must be at least 1");
        if (o.Tls.RequireClientCertificate && string.IsNullOrWhiteSpace(o.Tls.ClientCaPath)) errors.Add("Daemon:Tls:RequireClientCertificate needs Daemon:Tls:ClientCaPath");
        var g = o.Gpio;
        if (g.Enabled)
        {
            if (g.Driver is not ("libgpiod" or "simulated")) errors.Add($"Daemon:Gpio:Driver '{g.Driver}' is not libgpiod or simulated");
            int[] pins = [g.PedalPin, g.ReadyLedPin, g.InferencingLedPin, g.FaultLedPin];
            if (pins.Any(p => p < 0)) errors.Add("Daemon:Gpio pins must not be negative");
            if (pins.Distinct().Count() != pins.Length) errors.Add($"Daemon:Gpio pins must differ (pedal {g.PedalPin}, LEDs {g.ReadyLedPin}, {g.InferencingLedPin}, {g.FaultLedPin})");
            if (g.DebounceMilliseconds < 0 || g.LongPressMilliseconds <= g.DebounceMilliseconds) errors.Add("Daemon:Gpio: LongPressMilliseconds must exceed DebounceMilliseconds (>= 0)");
        }
        return errors;
    }
}

/// <summary>An endpoint URL as Kestrel listens on it.</summary>
public sealed record ListenAddress(bool Tls, string Host, int Port)
{
    public static ListenAddress Parse(string url, string key)
    {
        if (!Uri.TryCreate(url.Replace("://*", "://0.0.0.0", StringComparison.Ordinal).Replace("://+", "://0.0.0.0", StringComparison.Ordinal), UriKind.Absolute, out var uri)
            || (uri.Scheme != "http" && uri.Scheme != "https") || uri.AbsolutePath is not ("/" or ""))
        {
            throw new ArgumentException($"{key} '{url}' is not an endpoint like http://127.0.0.1:50051");
        }
        if (uri.IsDefaultPort && !url.Contains($":{uri.Port}", StringComparison.Ordinal))
        {
            throw new ArgumentException($"{key} '{url}' has no port");
        }
        return new ListenAddress(uri.Scheme == "https", uri.Host, uri.Port);
    }
}
