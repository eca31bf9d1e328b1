using System.CommandLine;
using System.Net;
using System.Net.NetworkInformation;
using M2SNet.Edge.Deployment;

namespace M2SNet.Edge.Cli;

/// <summary>
/// <c>m2s tls init</c> and <c>m2s tls client NAME</c>: the site CA, the appliance's server
/// certificate and video token, and client certificates for the OR's monitors and tablets
/// (see <see cref="SitePki"/>).
/// </summary>
internal static class TlsCommand
{
    public const string DefaultDirectory = "/etc/m2snet-edge/tls";

    public static Command Create()
    {
        var command = new Command("tls", "Certificates and the video token that keep patient video off the open network.");
        command.Subcommands.Add(CreateInit());
        command.Subcommands.Add(CreateClient());
        return command;
    }

    private static Option<string> DirectoryOption() => new("--dir")
    {
        Description = $"the appliance's TLS folder (default {DefaultDirectory}, where firmware-config/appsettings.json looks)",
        DefaultValueFactory = _ => DefaultDirectory,
    };

    private static Command CreateInit()
    {
        var dir = DirectoryOption();
        var names = new Option<string[]>("--name") { Description = "a DNS name clients use for the appliance (repeatable; default: this host's name; localhost is always added)", AllowMultipleArgumentsPerToken = true };
        var addresses = new Option<string[]>("--ip") { Description = "an address clients use (repeatable; default: every address of this machine; 127.0.0.1 is always added)", AllowMultipleArgumentsPerToken = true };
        var renew = new Option<bool>("--renew-server") { Description = "issue a new server certificate even if one exists (new names, or the old one expiring)" };
        var command = new Command("init", "Make the site CA, the appliance's server certificate and the video token (what is missing only).") { dir, names, addresses, renew };
        command.SetAction(parse => CliErrors.Guard(() =>
        {
            var pki = new SitePki(parse.GetValue(dir)!);
            // The appliance's own tools reach it on loopback over TLS too: localhost and 127.0.0.1 are always named.
            string[] dns = [.. parse.GetValue(names) is { Length: > 0 } n ? n : [Dns.GetHostName()], "localhost"];
            List<IPAddress> ips = parse.GetValue(addresses) is { Length: > 0 } given
                ? [.. given.Select(a => IPAddress.TryParse(a, out var ip) ? ip : throw new CliException($"--ip '{a}' is not an IP address")), IPAddress.Loopback]
                : MachineAddresses();
            ips = [.. ips.Distinct()];
            var written = pki.Initialize([.. dns.Distinct(StringComparer.OrdinalIgnoreCase)], ips, parse.GetValue(renew));
            foreach (var file in written) Console.WriteLine($"wrote {file}");
            if (written.Count == 0) Console.WriteLine($"{pki.Directory} is complete; nothing written (--renew-server issues a new server certificate)");
            Console.WriteLine($"server certificate for: {string.Join(", ", dns.Concat(ips.Select(i => i.ToString())))}");
            Console.WriteLine($"give clients {pki.CaCertificatePath} to trust the appliance; issue each device a certificate with 'm2s tls client NAME',");
            Console.WriteLine($"or give it the token in {pki.VideoTokenPath} (m2s-client --token-file, the web view's login page).");
            Console.WriteLine($"then: chown -R m2snet:m2snet {pki.Directory} && systemctl restart m2snet-edge");
            return 0;
        }));
        return command;
    }

    private static Command CreateClient()
    {
        var name = new Argument<string>("name") { Description = "the device, e.g. or3-monitor (the certificate's subject)" };
        var dir = DirectoryOption();
        var output = new Option<string>("--out") { Description = "where NAME.crt, NAME.key and NAME.p12 go (default: the current folder)", DefaultValueFactory = _ => "." };
        var days = new Option<int>("--days") { Description = "validity in days", DefaultValueFactory = _ => 365 };
        var command = new Command("client", "Issue a client certificate for one OR device from the site CA.") { name, dir, output, days };
        command.SetAction(parse => CliErrors.Guard(() =>
        {
            var pki = new SitePki(parse.GetValue(dir)!);
            if (parse.GetValue(days) is < 1 or > 825) throw new CliException("--days must be within 1..825");
            var (cert, key, p12, password) = pki.IssueClient(parse.GetValue(name)!, parse.GetValue(output)!, parse.GetValue(days));
            Console.WriteLine($"certificate: {cert}");
            Console.WriteLine($"key:         {key} (m2s-client --ca {pki.CaCertificatePath} --cert {cert} --key {key})");
            Console.WriteLine($"for a browser or tablet: {p12}, import password {password}");
            return 0;
        }));
        return command;
    }

    private static List<IPAddress> MachineAddresses() =>
        [.. NetworkInterface.GetAllNetworkInterfaces()
            .Where(i => i.OperationalStatus is OperationalStatus.Up or OperationalStatus.Unknown)
            .SelectMany(i => i.GetIPProperties().UnicastAddresses)
            .Select(u => u.Address)
            .Where(a => !a.IsIPv6LinkLocal)
            .Append(IPAddress.Loopback)
            .Distinct()];
}
