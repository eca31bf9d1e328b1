using System.CommandLine;
using M2SNet.Edge.Client;
using Grpc.Core;

var root = new RootCommand("m2s-client: clients of the M2SNet.Edge daemon (info, health, latency benchmark, demo, model administration).")
{
    Connection.Address, Connection.Ca, Connection.Cert, Connection.Key, Connection.TokenFile,
};
root.Subcommands.Add(Commands.Info());
root.Subcommands.Add(Commands.Health());
root.Subcommands.Add(Commands.Bench());
root.Subcommands.Add(DemoCommand.Create());
root.Subcommands.Add(OverlayCommand.Create());
root.Subcommands.Add(AdminCommands.Models());
root.Subcommands.Add(AdminCommands.Upload());
root.Subcommands.Add(AdminCommands.Activate());
root.Subcommands.Add(AdminCommands.Rollback());

var parse = root.Parse(args);
try
{
    return await parse.InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
}
catch (RpcException e)
{
    var hint = e.StatusCode switch
    {
        StatusCode.Unavailable => " (is the daemon running? start it with ./m2s-edged, or give --address)",
        StatusCode.DeadlineExceeded => " (the daemon did not answer in time)",
        _ => "",
    };
    Console.Error.WriteLine($"m2s-client: {e.StatusCode}: {e.Status.Detail}{hint}");
    return 1;
}
catch (Exception e) when (e is ArgumentException or IOException or System.Security.Cryptography.CryptographicException)
{
    Console.Error.WriteLine($"m2s-client: {e.Message}");
    return 2;
}
