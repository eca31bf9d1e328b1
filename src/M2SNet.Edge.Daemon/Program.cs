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

try
{
    var app = DaemonHost.Build(commandLine);
    app.Lifetime.ApplicationStarted.Register(() =>
        Console.Error.WriteLine($"m2s-edged: listening on {string.Join(", ", DaemonHost.BoundAddresses(app))} (gRPC first); Ctrl-C stops"));
    await app.RunAsync();
    return 0;
}
catch (DaemonConfigurationException e)
{
    Console.Error.WriteLine($"m2s-edged: {e.Message}");
    return 2;
}
catch (IOException e) when (e.InnerException is System.Net.Sockets.SocketException || e.Message.Contains("address", StringComparison.OrdinalIgnoreCase))
{
    Console.Error.WriteLine($"m2s-edged: cannot listen: {e.Message} (is another daemon running? change --urls / --http-urls)");
    return 3;
}
