namespace M2SNet.Edge.Daemon.Configuration;

/// <summary>
/// The daemon's command line: a few named switches for what people change most, and
/// <c>--Section:Key=value</c> for anything else in the configuration.
/// </summary>
public sealed record DaemonCommandLine(
    string? ConfigFile,
    string? FirmwareConfigDirectory,
    IReadOnlyDictionary<string, string?> Settings,
    bool Help,
    bool Version)
{
    public const string Usage = """
        m2s-edged: the M2SNet.Edge daemon. Segments live video and streams masks to clients over gRPC.

        Usage: ./m2s-edged [options]

          --config FILE             a JSON configuration file (layered over appsettings.json and firmware-config)
          --firmware-config DIR     the appliance's configuration folder (default: /etc/m2snet-edge when it exists)
          --urls URL                the gRPC endpoint, e.g. http://127.0.0.1:50051 (HTTP/2; https:// with Daemon:Tls)
          --http-urls URL           the plain HTTP endpoint for /metrics and /healthz ("" turns it off)
          --source SOURCE           sample, a video file, /dev/videoN, rtsp://..., gst:...
          --model FILE.onnx         the model (its manifest FILE.json next to it)
          --provider LIST           execution providers in order, e.g. tensorrt,cuda,cpu
          --Section:Key=VALUE       any other setting, e.g. --Daemon:Stream:DefaultEncoding=Rle
          --version, --help

        Layers, later wins: appsettings.json, firmware-config/*.json, --config, M2S_* environment
        variables (M2S_Daemon__Source__Uri=...), the command line.
        """;

    private static readonly Dictionary<string, string> s_switches = new(StringComparer.Ordinal)
    {
        ["--urls"] = "Daemon:Endpoints:Grpc",
        ["--http-urls"] = "Daemon:Endpoints:Http",
        ["--source"] = "Daemon:Source:Uri",
        ["--model"] = "Daemon:Model:Path",
        ["--provider"] = "Daemon:Model:Providers",
    };

    /// <summary>Parses <paramref name="args"/>; an unknown or incomplete switch is an <see cref="ArgumentException"/> naming it.</summary>
    public static DaemonCommandLine Parse(IReadOnlyList<string> args)
    {
        string? config = null, firmware = null;
        bool help = false, version = false;
        var settings = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            var eq = arg.IndexOf('=', StringComparison.Ordinal);
            var name = eq > 0 ? arg[..eq] : arg;
            string Value()
            {
                if (eq > 0) return arg[(eq + 1)..];
                if (i + 1 >= args.Count) throw new ArgumentException($"{name} needs a value");
                return args[++i];
            }
            switch (name)
            {
                case "--help" or "-h" or "-?":
                    help = true;
                    break;
                case "--version":
                    version = true;
                    break;
                case "--config":
                    config = Value();
                    break;
                case "--firmware-config":
                    firmware = Value();
                    break;
                default:
                    if (s_switches.TryGetValue(name, out var key)) settings[key] = Value();
                    else if (name.StartsWith("--", StringComparison.Ordinal) && name.Contains(':', StringComparison.Ordinal)) settings[name[2..]] = Value();
                    else throw new ArgumentException($"unknown option '{arg}' (see --help)");
                    break;
            }
        }
        return new DaemonCommandLine(config, firmware, settings, help, version);
    }
}
