using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using M2SNet.Edge.Daemon.Configuration;
using M2SNet.Edge.TestSupport;
using Microsoft.Extensions.Configuration;

namespace M2SNet.Edge.Daemon.Tests;

/// <summary>The files installed with the appliance: the systemd unit and firmware-config/.</summary>
public sealed partial class ApplianceFilesTests(ITestOutputHelper output)
{
    private static string UnitPath => Path.Combine(Reference.RepositoryRoot(), "systemd", "m2snet-edge.service");

    private static string FirmwareConfig => Path.Combine(Reference.RepositoryRoot(), "firmware-config");

    /// <summary>The unit as installed, except that ExecStart names this build's daemon (verify checks that it exists).</summary>
    private static string UnitForThisMachine()
    {
        var folder = Directory.CreateTempSubdirectory("m2s-unit-").FullName;
        var daemon = Path.Combine(AppContext.BaseDirectory, "m2s-edged");
        Assert.True(File.Exists(daemon), $"{daemon} was not built");
        var text = File.ReadAllText(UnitPath);
        Assert.Contains("ExecStart=/opt/m2snet-edge/m2s-edged ", text);
        var path = Path.Combine(folder, "m2snet-edge.service");
        File.WriteAllText(path, text.Replace("ExecStart=/opt/m2snet-edge/m2s-edged ", $"ExecStart={daemon} ", StringComparison.Ordinal));
        return path;
    }

    [Fact]
    public void Service_unit_passes_systemd_analyze_verify()
    {
        var (code, text) = Run("systemd-analyze", "verify", UnitForThisMachine());
        output.WriteLine(text);
        Assert.True(code == 0 && !text.Contains("m2snet-edge.service", StringComparison.Ordinal), $"systemd-analyze verify: exit {code}\n{text}");
    }

    [Fact]
    public void Service_unit_exposure_is_rated_ok_by_systemd_analyze_security()
    {
        var (code, text) = Run("systemd-analyze", "security", "--offline=true", "--no-pager", UnitForThisMachine());
        var match = ExposureLine().Match(text);
        Assert.True(code == 0 && match.Success, $"systemd-analyze security: exit {code}\n{text}");
        var exposure = double.Parse(match.Groups["level"].Value, CultureInfo.InvariantCulture);
        output.WriteLine(match.Value);
        // systemd rates 0–10; below 3 is "OK" (a service that needs capture devices, GPIO and a GPU).
        Assert.True(exposure < 3.0, match.Value);
    }

    [Fact]
    public void Unit_is_a_notify_service_with_a_watchdog_and_no_memory_deny_write_execute()
    {
        var lines = File.ReadAllLines(UnitPath).Select(l => l.Trim()).ToList();
        Assert.Contains("Type=notify", lines);
        Assert.Contains(lines, l => l.StartsWith("WatchdogSec=", StringComparison.Ordinal));
        Assert.Contains("Restart=on-failure", lines);
        Assert.Contains("NoNewPrivileges=yes", lines);
        Assert.Contains("ProtectSystem=strict", lines);
        Assert.DoesNotContain(lines, l => l.StartsWith("MemoryDenyWriteExecute=yes", StringComparison.Ordinal));
    }

    [Fact]
    public void Firmware_config_binds_to_the_daemon_options_without_unknown_settings()
    {
        var builder = new ConfigurationBuilder();
        foreach (var file in Directory.GetFiles(FirmwareConfig, "*.json").Order(StringComparer.Ordinal)) builder.AddJsonFile(file);
        var options = new DaemonOptions();
        // A misspelt key would be silently ignored by the daemon's binder; here it is an error.
        builder.Build().GetSection(DaemonOptions.Section).Bind(options, b => b.ErrorOnUnknownConfiguration = true);

        Assert.True(options.Gpio.Enabled);
        Assert.Equal("/dev/m2snet-capture", options.Source.Uri);
        Assert.Equal("/etc/m2snet-edge/trusted-keys", options.Models.TrustedKeys);
        // On this machine only the appliance's own paths are missing; everything else is valid.
        var errors = DaemonOptionsValidator.Validate(options).Where(e => !e.Contains("/etc/m2snet-edge/", StringComparison.Ordinal)).ToList();
        Assert.Empty(errors);
    }

    [Fact]
    public void Udev_rule_names_the_capture_device_the_profile_opens()
    {
        var rule = File.ReadAllText(Path.Combine(FirmwareConfig, "99-m2snet-edge.rules"));
        Assert.Contains("SYMLINK+=\"m2snet-capture\"", rule);
        Assert.Contains("SUBSYSTEM==\"gpio\"", rule);
    }

    private static (int Code, string Output) Run(string program, params string[] args)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        process.WaitForExit();
        return (process.ExitCode, stdout.Result + stderr.Result);
    }

    [GeneratedRegex(@"Overall exposure level for m2snet-edge\.service: (?<level>\d+(\.\d+)?) \w+")]
    private static partial Regex ExposureLine();
}
