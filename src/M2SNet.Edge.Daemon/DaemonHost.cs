using System.Net;
using System.Security.Cryptography.X509Certificates;
using M2SNet.Edge.Daemon.Configuration;
using M2SNet.Edge.Daemon.Observability;
using M2SNet.Edge.Daemon.Pipeline;
using M2SNet.Edge.Daemon.Services;
using M2SNet.Edge.Daemon.Streaming;
using Grpc.AspNetCore.Server;
using Grpc.HealthCheck;
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
/// /healthz on plain HTTP), the pipeline host, and the services on Grpc.AspNetCore (the contract's
/// two services, the standard health service and server reflection). The program, the tests and
/// the benchmarks build and start it the same way (<see cref="Build"/>, <see cref="StartAsync"/>).
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

        builder.Logging.ClearProviders();
        builder.Logging.AddConfiguration(configuration.GetSection("Logging"));
        builder.Logging.AddConsole();

        // Bound from the layers above and checked, all errors at once, when the host starts (StartAsync).
        builder.Services.AddOptions<DaemonOptions>().Bind(configuration.GetSection(DaemonOptions.Section)).ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<DaemonOptions>, DaemonOptionsValidator>();

        builder.Services.AddGrpc(grpc =>
        {
            // Messages arrive and leave uncompressed unless a client compresses its own (gzip is understood).
            grpc.EnableDetailedErrors = false;
            // Outermost: no status carries more than a bounded quote of what the client sent.
            grpc.Interceptors.Add<StatusCapInterceptor>();
        }).AddServiceOptions<ModelAdminService>(admin => admin.Interceptors.Add<AdminAccessInterceptor>())
            .AddServiceOptions<SegmentationService>(video => video.Interceptors.Add<VideoAccessInterceptor>());
        // Grpc.AspNetCore reads these when the services are mapped, and Kestrel its endpoints when the
        // application is built: both before the host starts and validates the options. So they are read
        // from the configuration as it stands; a value that does not bind is one of the start-up errors.
        var configured = Unvalidated(configuration);
        builder.Services.AddOptions<GrpcServiceOptions>().Configure(grpc =>
        {
            var limits = configured.Limits;
            grpc.MaxReceiveMessageSize = limits.MaxReceiveMessageBytes;
            grpc.MaxSendMessageSize = limits.MaxSendMessageBytes;
        });
        builder.Services.AddGrpcReflection();
        builder.Services.AddSingleton<HealthServiceImpl>();
        builder.Services.AddSingleton<HealthReporter>();

        builder.Services.AddSingleton<DaemonState>();
        builder.Services.AddSingleton<PipelineMetrics>();
        builder.Services.AddSingleton<ActivePipeline>();
        builder.Services.AddSingleton(s =>
        {
            var stream = s.GetRequiredService<IOptions<DaemonOptions>>().Value.Stream;
            return new MaskPublisher(stream.MaxSubscribers, stream.MaxSubscribersPerPeer, TimeSpan.FromSeconds(stream.StalledAfterSeconds));
        });
        builder.Services.AddSingleton<SegmentationService>();
        builder.Services.AddSingleton<PrometheusExposition>();
        builder.Services.AddSingleton<Models.ModelUpdater>();
        builder.Services.AddSingleton<AdminAccess>();
        builder.Services.AddSingleton<VideoAccess>();
        builder.Services.AddSingleton<ModelAdminService>();
        builder.Services.AddSingleton<WebView>();
        builder.Services.AddSingleton<UnfinishedMessages>();
        builder.Services.AddHostedService<PipelineHost>();
        builder.Services.AddHostedService<Models.DropFolderWatcher>();
        builder.Services.AddSingleton(s =>
        {
            var daemon = s.GetRequiredService<IOptions<DaemonOptions>>().Value;
            var systemd = Appliance.SystemdOptions.FromEnvironment(Environment.GetEnvironmentVariable);
            if (daemon.Systemd.NotifySocket is { Length: > 0 } socket) systemd = systemd with { NotifySocket = socket };
            if (daemon.Systemd.WatchdogSeconds is > 0 and var seconds) systemd = systemd with { WatchdogInterval = TimeSpan.FromSeconds(seconds) };
            return systemd;
        });
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
            kestrel.Limits.Http2.MaxStreamsPerConnection = Math.Max(1, configured.Limits.MaxStreamsPerConnection);
            kestrel.Limits.MaxConcurrentConnections = Math.Max(2, configured.Limits.MaxConnections);
        });
        builder.Services.AddOptions<KestrelServerOptions>().Configure(kestrel =>
        {
            var options = configured;
            try
            {
                if (!TryParse(options.Endpoints.Grpc, "Daemon:Endpoints:Grpc", out var grpc)) return;
                Listen(kestrel, grpc, HttpProtocols.Http2, options.Tls);
                if (!string.IsNullOrWhiteSpace(options.Endpoints.Http) && TryParse(options.Endpoints.Http, "Daemon:Endpoints:Http", out var http))
                {
                    Listen(kestrel, http, http.Tls ? HttpProtocols.Http1AndHttp2 : HttpProtocols.Http1, options.Tls);
                }
            }
            catch (Exception e) when (e is System.Security.Cryptography.CryptographicException or IOException or ArgumentException)
            {
                // A certificate that does not load: the validator reports it when the host starts, before anything listens.
            }
        });

        var app = builder.Build();
        UnfinishedMessages.MapTo(app);
        app.MapGrpcService<SegmentationService>();
        app.MapGrpcService<ModelAdminService>();
        app.MapGrpcService<HealthServiceImpl>();
        app.MapGrpcReflectionService();
        app.MapGet("/healthz", (HealthReporter health, DaemonState state) =>
            health.Current == global::Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus.Serving
                ? Results.Text($"SERVING\nsource: {state.SourceState}\n")
                : Results.Text($"NOT_SERVING: {(state.Serving ? "the daemon is stopping" : state.NotServingReason)}\n", statusCode: StatusCodes.Status503ServiceUnavailable));
        app.MapGet("/metrics", (PrometheusExposition metrics) => Results.Text(metrics.Render(), PrometheusExposition.ContentType));
        WebView.MapTo(app);
        // Health says NOT_SERVING as soon as the daemon starts stopping, before its calls end.
        app.Lifetime.ApplicationStopping.Register(() => app.Services.GetRequiredService<HealthReporter>().Stopping());
        return app;
    }

    /// <summary>
    /// Starts a built daemon: the process-wide settings first (once per process), then the host, which
    /// checks the configuration before anything runs. A configuration it refuses is a
    /// <see cref="DaemonConfigurationException"/> with every reason; the program, the tests and the
    /// benchmarks all start the daemon here.
    /// </summary>
    public static async Task StartAsync(WebApplication app)
    {
        DaemonProcess.Initialize(app.Configuration);
        // Created now so that health answers NOT_SERVING (not NOT_FOUND) from the first call.
        app.Services.GetRequiredService<HealthReporter>();
        try
        {
            await app.StartAsync().ConfigureAwait(false);
        }
        // The options are checked before any hosted service starts: nothing to stop.
        catch (OptionsValidationException e)
        {
            throw new DaemonConfigurationException([.. e.Failures]);
        }
        catch (InvalidOperationException e) when (e.Message.Contains("Failed to convert configuration value", StringComparison.Ordinal))
        {
            // A value of the wrong type (MaxFrameWidth=wide): the binder names the setting.
            throw new DaemonConfigurationException([e.Message + (e.InnerException is null ? "" : " " + e.InnerException.Message)]);
        }
        catch (DaemonConfigurationException)
        {
            await StopAfterFailedStartAsync(app).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>The options as configured, before validation (a section that does not bind gives the defaults).</summary>
    private static DaemonOptions Unvalidated(IConfiguration configuration)
    {
        var options = new DaemonOptions();
        try
        {
            configuration.GetSection(DaemonOptions.Section).Bind(options);
        }
        catch (InvalidOperationException)
        {
        }
        return options;
    }

    private static bool TryParse(string url, string key, out ListenAddress address)
    {
        try
        {
            address = ListenAddress.Parse(url, key);
            return true;
        }
        catch (ArgumentException)
        {
            address = null!;
            return false;
        }
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
                ClientCertificateMode = string.IsNullOrWhiteSpace(tls.ClientCaPath) ? ClientCertificateMode.NoCertificate
                    : tls.RequireClientCertificate ? ClientCertificateMode.RequireCertificate : ClientCertificateMode.AllowCertificate,
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
