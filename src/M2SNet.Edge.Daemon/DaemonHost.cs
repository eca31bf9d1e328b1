using System.Net;
using System.Security.Cryptography.X509Certificates;
using M2SNet.Edge.Daemon.Configuration;
using M2SNet.Edge.Daemon.Observability;
using M2SNet.Edge.Daemon.Pipeline;
using M2SNet.Edge.Daemon.Services;
using M2SNet.Edge.Daemon.Streaming;
using M2SNet.Edge.Grpc.Server;
using M2SNet.Edge.OnnxRuntime;
using M2SNet.Edge.OpenCv;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace M2SNet.Edge.Daemon;

/// <summary>A configuration the daemon refuses to start with, with every reason.</summary>
public sealed class DaemonConfigurationException(IReadOnlyList<string> errors)
    : Exception("the configuration is not valid:" + Environment.NewLine + "  " + string.Join(Environment.NewLine + "  ", errors))
{
    public IReadOnlyList<string> Errors { get; } = errors;
}

/// <summary>
/// Composes the daemon: layered configuration, Kestrel endpoints (gRPC on HTTP/2; /metrics and
/// /healthz on plain HTTP), the pipeline host, and the services. The program and the tests build
/// it the same way.
/// </summary>
public static class DaemonHost
{
    public const string FirmwareConfigDefault = "/etc/m2snet-edge";

    public static WebApplication Build(DaemonCommandLine commandLine, IEnumerable<KeyValuePair<string, string?>>? overrides = null)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            ApplicationName = "m2s-edged",
            ContentRootPath = AppContext.BaseDirectory,
        });

        // Layers, later wins: appsettings.json, firmware-config/*.json, --config, M2S_ environment, command line.
        var configuration = builder.Configuration;
        configuration.Sources.Clear();
        configuration.AddJsonFile(Path.Combine(AppContext.BaseDirectory, "appsettings.json"), optional: true, reloadOnChange: false);
        var firmware = commandLine.FirmwareConfigDirectory ?? (Directory.Exists(FirmwareConfigDefault) ? FirmwareConfigDefault : null);
        if (firmware is not null)
        {
            if (!Directory.Exists(firmware)) throw new DaemonConfigurationException([$"the firmware configuration folder {firmware} does not exist"]);
            foreach (var file in Directory.GetFiles(firmware, "*.json").Order(StringComparer.Ordinal)) configuration.AddJsonFile(file, optional: false, reloadOnChange: false);
        }
        if (commandLine.ConfigFile is { } config)
        {
            if (!File.Exists(config)) throw new DaemonConfigurationException([$"--config: {config} does not exist"]);
            configuration.AddJsonFile(Path.GetFullPath(config), optional: false, reloadOnChange: false);
        }
        configuration.AddEnvironmentVariables("M2S_");
        configuration.AddInMemoryCollection(commandLine.Settings);
        if (overrides is not null) configuration.AddInMemoryCollection(overrides);

        var options = new DaemonOptions();
        try
        {
            configuration.GetSection(DaemonOptions.Section).Bind(options);
        }
        catch (InvalidOperationException e)
        {
            throw new DaemonConfigurationException([e.Message + (e.InnerException is null ? "" : " " + e.InnerException.Message)]);
        }
        var errors = DaemonOptionsValidator.Validate(options);
        if (errors.Count > 0) throw new DaemonConfigurationException(errors);

        builder.Logging.ClearProviders();
        builder.Logging.AddConfiguration(configuration.GetSection("Logging"));
        builder.Logging.AddConsole();

        builder.Services.AddSingleton(Options.Create(options));
        builder.Services.Configure<GrpcServerOptions>(g =>
        {
            g.MaxReceiveMessageSize = options.Limits.MaxReceiveMessageBytes;
            g.MaxSendMessageSize = options.Limits.MaxSendMessageBytes;
        });
        builder.Services.AddSingleton<DaemonState>();
        builder.Services.AddSingleton<PipelineMetrics>();
        builder.Services.AddSingleton<ActivePipeline>();
        builder.Services.AddSingleton(_ => new MaskPublisher(options.Stream.MaxSubscribers));
        builder.Services.AddSingleton<SegmentationService>();
        builder.Services.AddSingleton<HealthService>();
        builder.Services.AddSingleton<PrometheusExposition>();
        builder.Services.AddSingleton<Models.ModelUpdater>();
        builder.Services.AddSingleton<AdminAccess>();
        builder.Services.AddSingleton<ModelAdminService>();
        builder.Services.AddSingleton<WebView>();
        builder.Services.AddHostedService<PipelineHost>();
        builder.Services.AddHostedService<Models.DropFolderWatcher>();
        var systemd = Appliance.SystemdOptions.FromEnvironment(Environment.GetEnvironmentVariable);
        if (options.Systemd.NotifySocket is { Length: > 0 } socket) systemd = systemd with { NotifySocket = socket };
        if (options.Systemd.WatchdogSeconds is > 0 and var seconds) systemd = systemd with { WatchdogInterval = TimeSpan.FromSeconds(seconds) };
        builder.Services.AddSingleton(systemd);
        builder.Services.AddHostedService<Appliance.SystemdNotifier>();
        builder.Services.AddSingleton<Appliance.OperatorPanel>();
        builder.Services.AddHostedService(s => s.GetRequiredService<Appliance.OperatorPanel>());
        builder.Services.Configure<HostOptions>(h => h.ShutdownTimeout = TimeSpan.FromSeconds(10));

        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.Http2.KeepAlivePingDelay = TimeSpan.FromSeconds(15);
            kestrel.Limits.Http2.KeepAlivePingTimeout = TimeSpan.FromSeconds(20);
            // A frame message is one HTTP/2 stream's worth of data; larger windows keep a 1080p frame in flight.
            kestrel.Limits.Http2.InitialConnectionWindowSize = 4 * 1024 * 1024;
            kestrel.Limits.Http2.InitialStreamWindowSize = 2 * 1024 * 1024;
            kestrel.Limits.MaxRequestBodySize = null;
            Listen(kestrel, ListenAddress.Parse(options.Endpoints.Grpc, "Daemon:Endpoints:Grpc"), HttpProtocols.Http2, options.Tls);
            if (!string.IsNullOrWhiteSpace(options.Endpoints.Http))
            {
                var http = ListenAddress.Parse(options.Endpoints.Http, "Daemon:Endpoints:Http");
                Listen(kestrel, http, http.Tls ? HttpProtocols.Http1AndHttp2 : HttpProtocols.Http1, options.Tls);
            }
        });

        var app = builder.Build();
        var log = app.Services.GetRequiredService<ILoggerFactory>();
        OrtEnvironment.UseLogger(log);
        var ortLibrary = configuration[OrtEnvironmentOptions.LibraryPathConfigKey];
        try
        {
            OrtEnvironment.Initialize(new OrtEnvironmentOptions { LibraryPath = string.IsNullOrWhiteSpace(ortLibrary) ? null : ortLibrary });
        }
        catch (OrtLibraryException e)
        {
            // The daemon still starts and says NOT_SERVING with this reason (the model load fails the same way).
            log.CreateLogger("m2s-edged").LogCritical("{Reason}", e.Message);
        }
        // Frames are due every 33 ms: no blocking full collections while the video runs.
        System.Runtime.GCSettings.LatencyMode = System.Runtime.GCLatencyMode.SustainedLowLatency;
        // OpenCV's own worker threads would compete with ONNX Runtime's for the same cores.
        Cv2.SetNumThreads(1);

        app.Services.GetRequiredService<SegmentationService>().MapTo(app);
        app.Services.GetRequiredService<HealthService>().MapTo(app);
        app.Services.GetRequiredService<ModelAdminService>().MapTo(app);
        app.MapGrpcUnimplemented();
        app.MapGet("/healthz", (HealthService health, DaemonState state) =>
            health.Current == global::Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus.Serving
                ? Results.Text($"SERVING\nsource: {state.SourceState}\n")
                : Results.Text($"NOT_SERVING: {state.Reason}\n", statusCode: StatusCodes.Status503ServiceUnavailable));
        app.MapGet("/metrics", (PrometheusExposition metrics) => Results.Text(metrics.Render(), PrometheusExposition.ContentType));
        app.Services.GetRequiredService<WebView>().MapTo(app);
        return app;
    }

    /// <summary>
    /// After Kestrel failed to bind: the hosted services that did start (the pipeline) are stopped,
    /// so that no native work is left running while the process ends.
    /// </summary>
    public static async Task StopAfterFailedStartAsync(WebApplication app)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        foreach (var service in app.Services.GetServices<IHostedService>().OfType<PipelineHost>())
        {
            await service.StopAsync(timeout.Token).ConfigureAwait(false);
        }
    }

    /// <summary>The addresses Kestrel bound, gRPC first (the actual ports when 0 was asked for).</summary>
    public static IReadOnlyList<string> BoundAddresses(WebApplication app) =>
        [.. app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses ?? []];

    private static void Listen(KestrelServerOptions kestrel, ListenAddress address, HttpProtocols protocols, TlsOptions tls)
    {
        void Configure(ListenOptions listen)
        {
            listen.Protocols = protocols;
            if (!address.Tls) return;
            var certificate = X509Certificate2.CreateFromPemFile(tls.CertificatePath!, tls.KeyPath);
            listen.UseHttps(new HttpsConnectionAdapterOptions
            {
                ServerCertificate = certificate,
                ClientCertificateMode = string.IsNullOrWhiteSpace(tls.ClientCaPath) ? ClientCertificateMode.NoCertificate : ClientCertificateMode.RequireCertificate,
                ClientCertificateValidation = string.IsNullOrWhiteSpace(tls.ClientCaPath) ? null : ClientCertificateValidator(tls.ClientCaPath!),
            });
        }

        if (address.Host is "localhost") kestrel.ListenLocalhost(address.Port, Configure);
        else if (address.Host is "0.0.0.0") kestrel.ListenAnyIP(address.Port, Configure);
        else if (IPAddress.TryParse(address.Host.Trim('[', ']'), out var ip)) kestrel.Listen(ip, address.Port, Configure);
        else throw new DaemonConfigurationException([$"cannot listen on host '{address.Host}': use an IP address, localhost or 0.0.0.0"]);
    }

    private static Func<X509Certificate2, X509Chain?, System.Net.Security.SslPolicyErrors, bool> ClientCertificateValidator(string caPath)
    {
        var ca = X509CertificateLoader.LoadCertificateFromFile(caPath);
        return (certificate, _, _) =>
        {
            using var chain = new X509Chain();
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.Add(ca);
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            return chain.Build(certificate);
        };
    }
}
