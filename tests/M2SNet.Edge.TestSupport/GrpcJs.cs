using System.Diagnostics;
using System.Text.Json;

namespace M2SNet.Edge.TestSupport;

/// <summary>
/// grpc-js (installed by build/bootstrap.sh grpc-js), the reference gRPC implementation our
/// server and client are checked against: tests/interop/client.js and server.js.
/// </summary>
public static class GrpcJs
{
    private static readonly Lazy<string> s_protoRoot = new(MakeProtoRoot);

    private static string Modules => Path.Combine(Reference.RepositoryRoot(), ".native", "grpc-js", "node_modules");

    /// <summary>
    /// The include root the scripts load from: the contract (protos/) and the standard
    /// grpc/health/v1/health.proto as the grpc-health-check package ships it (the repository
    /// carries no copy of it; the daemon serves the health service of Grpc.HealthCheck).
    /// </summary>
    public static string ProtoRoot => s_protoRoot.Value;

    private static string MakeProtoRoot()
    {
        var root = Directory.CreateTempSubdirectory("m2s-grpcjs-protos-").FullName;
        CopyTree(Path.Combine(Reference.RepositoryRoot(), "protos"), root);
        var health = Path.Combine(Modules, "grpc-health-check", "proto", "health", "v1", "health.proto");
        if (!File.Exists(health)) throw new FileNotFoundException($"{health} is missing: run build/bootstrap.sh grpc-js");
        Directory.CreateDirectory(Path.Combine(root, "grpc", "health", "v1"));
        File.Copy(health, Path.Combine(root, "grpc", "health", "v1", "health.proto"));
        return root;
    }

    private static void CopyTree(string from, string to)
    {
        foreach (var file in Directory.EnumerateFiles(from, "*.proto", SearchOption.AllDirectories))
        {
            var target = Path.Combine(to, Path.GetRelativePath(from, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
    }

    private static string Script(string name) => Path.Combine(Reference.RepositoryRoot(), "tests", "interop", name);

    private static ProcessStartInfo Node(string script, IEnumerable<string> args)
    {
        var psi = new ProcessStartInfo("node") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.Environment["NODE_PATH"] = Modules;
        psi.ArgumentList.Add(Script(script));
        foreach (var a in args) psi.ArgumentList.Add(a);
        return psi;
    }

    /// <summary>Runs one client command against <paramref name="address"/> (host:port); each JSON line it printed.</summary>
    public static async Task<IReadOnlyList<JsonElement>> RunClientAsync(string address, params string[] command)
    {
        using var p = Process.Start(Node("client.js", [address, ProtoRoot, .. command]))!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await p.WaitForExitAsync(timeout.Token);
        var lines = (await stdout).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        if (p.ExitCode != 0 || lines.Length == 0)
        {
            throw new InvalidOperationException($"grpc-js client {string.Join(' ', command)} exited {p.ExitCode}: {await stderr}");
        }
        return [.. lines.Select(l => JsonDocument.Parse(l).RootElement.Clone())];
    }

    /// <summary>Starts the scripted reference server on a free loopback port.</summary>
    public static async Task<(Process Server, int Port)> StartServerAsync()
    {
        var p = Process.Start(Node("server.js", [ProtoRoot]))!;
        var line = await p.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30));
        if (line is null || !line.StartsWith("listening ", StringComparison.Ordinal))
        {
            p.Kill();
            throw new InvalidOperationException($"grpc-js server did not start: {line} {await p.StandardError.ReadToEndAsync()}");
        }
        return (p, int.Parse(line["listening ".Length..], System.Globalization.CultureInfo.InvariantCulture));
    }
}
