using M2SNet.Edge.Daemon;
using M2SNet.Edge.Daemon.Configuration;

DaemonCommandLine commandLine;
try
{
    commandLine = DaemonCommandLine.Parse(args);
}
catch (ArgumentException e)
{
    Console.Error.WriteLine($"m2s-edged: {e.Message}");
    return 2;
}
if (commandLine.Help)
{
    Console.WriteLine(DaemonCommandLine.Usage);
    return 0;
}
if (commandLine.Version)
{
    Console.WriteLine($"m2s-edged {M2SNet.Edge.Daemon.Services.SegmentationService.Version}");
    return 0;
}

Microsoft.AspNetCore.Builder.WebApplication app;
try
{
    app = DaemonHost.Build(commandLine);
}
catch (DaemonConfigurationException e)
{
    Console.Error.WriteLine($"m2s-edged: {e.Message}");
    return 2;
}

await using (app)
{
    app.Lifetime.ApplicationStarted.Register(() =>
        Console.Error.WriteLine($"m2s-edged: listening on {string.Join(", ", DaemonHost.BoundAddresses(app))} (gRPC first); Ctrl-C stops"));
    try
    {
        await DaemonHost.StartAsync(app);
    }
    catch (DaemonConfigurationException e)
    {
        Console.Error.WriteLine($"m2s-edged: {e.Message}");
        return 2;
    }
    catch (IOException e) when (e.InnerException is System.Net.Sockets.SocketException or Microsoft.AspNetCore.Connections.AddressInUseException
                                || e.Message.Contains("address", StringComparison.OrdinalIgnoreCase))
    {
        Console.Error.WriteLine($"m2s-edged: cannot listen: {e.Message} (is another daemon running? change --urls / --http-urls)");
        // The pipeline may already be loading the model on its own threads: stop it before the process ends.
        await DaemonHost.StopAfterFailedStartAsync(app);
        return 3;
    }
    await app.WaitForShutdownAsync();
    return 0;
}
