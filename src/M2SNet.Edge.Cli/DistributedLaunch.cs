using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using M2SNet.Edge.Torch;
using M2SNet.Edge.Torch.Distributed;

namespace M2SNet.Edge.Cli;

/// <summary>
/// Data-parallel training on several processes, torchrun's way: with <c>--nproc-per-node N</c> this
/// process launches N ranks of itself and watches them; a rank (started so, or by torchrun, Slurm or
/// Kubernetes) reads WORLD_SIZE, RANK, LOCAL_RANK, MASTER_ADDR and MASTER_PORT and joins libtorch's
/// c10d group through the TCPStore that rank 0 serves.
/// </summary>
internal sealed class DistributedLaunch
{
    public Option<int> ProcessesPerNode { get; } = new("--nproc-per-node") { Description = "ranks to start on this machine (data parallel, gloo on CPU)", DefaultValueFactory = _ => 1 };

    public Option<int> Nodes { get; } = new("--nnodes") { Description = "machines taking part", DefaultValueFactory = _ => 1 };

    public Option<int> NodeRank { get; } = new("--node-rank") { Description = "this machine's index among --nnodes", DefaultValueFactory = _ => 0 };

    public Option<string> MasterAddress { get; } = new("--master-addr") { Description = "address of rank 0 (it serves the rendezvous)", DefaultValueFactory = _ => "127.0.0.1" };

    public Option<int> MasterPort { get; } = new("--master-port") { Description = "port of rank 0's rendezvous", DefaultValueFactory = _ => 29500 };

    public Option<string> Backend { get; } = new("--dist-backend") { Description = "c10d backend: auto (nccl on CUDA where the shim has it, else gloo), gloo or nccl", DefaultValueFactory = _ => "auto" };

    public Option<int> Timeout { get; } = new("--dist-timeout") { Description = "seconds a rendezvous or a collective may wait for a rank before the run ends with an error", DefaultValueFactory = _ => 300 };

    public void AddTo(Command command)
    {
        command.Options.Add(ProcessesPerNode);
        command.Options.Add(Nodes);
        command.Options.Add(NodeRank);
        command.Options.Add(MasterAddress);
        command.Options.Add(MasterPort);
        command.Options.Add(Backend);
        command.Options.Add(Timeout);
    }

    /// <summary>This process's place: a rank (from the environment), the launcher of local ranks, or a single process.</summary>
    public (Role Role, int World, int Rank, int LocalRank, int LocalRanks, string Address, int Port) Resolve(ParseResult parse)
    {
        var env = Environment.GetEnvironmentVariable("RANK");
        if (env is not null)
        {
            int Int(string name, int fallback) => Environment.GetEnvironmentVariable(name) is { } v
                ? int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) ? n : throw new CliException($"{name}={v} is not a number")
                : fallback;
            var world = Int("WORLD_SIZE", 1);
            var rank = Int("RANK", 0);
            var local = Int("LOCAL_WORLD_SIZE", parse.GetValue(ProcessesPerNode));
            return (world > 1 ? Role.Rank : Role.Single, world, rank, Int("LOCAL_RANK", 0), local,
                Environment.GetEnvironmentVariable("MASTER_ADDR") ?? parse.GetValue(MasterAddress)!, Int("MASTER_PORT", parse.GetValue(MasterPort)));
        }
        var perNode = parse.GetValue(ProcessesPerNode);
        var nodes = parse.GetValue(Nodes);
        var nodeRank = parse.GetValue(NodeRank);
        if (perNode < 1) throw new CliException($"--nproc-per-node must be at least 1, not {perNode}");
        if (nodes < 1 || nodeRank < 0 || nodeRank >= nodes) throw new CliException($"--node-rank {nodeRank} is not one of --nnodes {nodes}");
        var size = perNode * nodes;
        return (size > 1 ? Role.Launcher : Role.Single, size, nodeRank * perNode, 0, perNode, parse.GetValue(MasterAddress)!, parse.GetValue(MasterPort));
    }

    /// <summary>Starts the local ranks (this program again, the same arguments, torchrun's variables) and waits for all.</summary>
    public static int Launch(int world, int firstRank, int localRanks, string address, int port)
    {
        var args = Environment.GetCommandLineArgs();
        var exe = Environment.ProcessPath ?? throw new CliException("cannot tell which program to start the ranks with");
        // Run as `dotnet m2s.dll ...`, the first argument is the assembly; as the app host, it is the host itself.
        var leading = Path.GetFileNameWithoutExtension(exe) == "dotnet" ? new[] { args[0] } : [];
        Console.WriteLine($"starting {localRanks} rank(s) of a world of {world} (ranks {firstRank}-{firstRank + localRanks - 1}; rendezvous at {address}:{port})");
        var ranks = new List<(int Rank, Process Process)>();
        try
        {
            for (var i = 0; i < localRanks; i++)
            {
                var info = new ProcessStartInfo(exe) { UseShellExecute = false };
                foreach (var a in leading.Concat(args.Skip(1))) info.ArgumentList.Add(a);
                info.Environment["WORLD_SIZE"] = world.ToString(CultureInfo.InvariantCulture);
                info.Environment["RANK"] = (firstRank + i).ToString(CultureInfo.InvariantCulture);
                info.Environment["LOCAL_RANK"] = i.ToString(CultureInfo.InvariantCulture);
                info.Environment["LOCAL_WORLD_SIZE"] = localRanks.ToString(CultureInfo.InvariantCulture);
                info.Environment["MASTER_ADDR"] = address;
                info.Environment["MASTER_PORT"] = port.ToString(CultureInfo.InvariantCulture);
                ranks.Add((firstRank + i, Process.Start(info) ?? throw new CliException($"rank {firstRank + i} could not be started")));
            }
            // The first rank to fail ends the run: the others are stopped rather than left waiting for it.
            var pending = ranks.ToList();
            while (pending.Count > 0)
            {
                var done = pending.FirstOrDefault(r => r.Process.WaitForExit(200));
                if (done.Process is null) continue;
                pending.Remove(done);
                if (done.Process.ExitCode != 0)
                {
                    foreach (var (_, p) in pending) Kill(p);
                    Console.Error.WriteLine($"m2s: error: rank {done.Rank} exited with code {done.Process.ExitCode}; the other ranks were stopped");
                    return 1;
                }
            }
            return 0;
        }
        finally
        {
            foreach (var (_, p) in ranks)
            {
                Kill(p);
                p.Dispose();
            }
        }
    }

    /// <summary>
    /// The device a rank trains on: a CUDA device without an index becomes the one of its local rank
    /// (cuda:LOCAL_RANK, as torchrun's ranks choose; modulo the GPUs present when there are fewer).
    /// </summary>
    public static Device RankDevice(Device requested, int localRank) =>
        requested.Type == DeviceType.CUDA && requested.Index < 0
            ? new Device(DeviceType.CUDA, localRank % Math.Max(1, torch.cuda.is_available() ? torch.cuda.device_count() : 1))
            : requested;

    /// <summary>Whether more local ranks than GPUs train on CUDA, so that some share one (NCCL refuses that).</summary>
    public static bool SharesGpus(Device device, int localRanks) =>
        device.Type == DeviceType.CUDA && torch.cuda.is_available() && localRanks > torch.cuda.device_count();

    /// <summary>
    /// The backend for <paramref name="requested"/> on <paramref name="device"/>: auto is NCCL on a
    /// CUDA device where the shim has it, else gloo; a backend this shim cannot run is an error
    /// that says how to get it.
    /// </summary>
    public static string ChooseBackend(string requested, Device device, bool sharedGpus = false)
    {
        var cuda = device.Type == DeviceType.CUDA;
        switch (requested)
        {
            case "auto":
                if (cuda && sharedGpus)
                {
                    Console.WriteLine("note: collectives run through gloo: more ranks than GPUs on this machine, and NCCL needs a GPU of its own per rank");
                    return ChooseBackend("gloo", device);
                }
                if (cuda && ProcessGroup.IsAvailable("nccl")) return "nccl";
                if (cuda) Console.WriteLine("note: collectives run through gloo; NCCL is not in this shim build (build it against a CUDA LibTorch: TORCH_DIR=... build/bootstrap.sh torch-shim)");
                return ChooseBackend("gloo", device);
            case "gloo":
                if (!ProcessGroup.IsAvailable("gloo")) throw new CliException("this libtorch shim was built without gloo: install libgloo-dev and run build/bootstrap.sh torch-shim");
                return "gloo";
            case "nccl":
                if (!cuda) throw new CliException("--dist-backend nccl needs --device cuda");
                if (sharedGpus) throw new CliException("--dist-backend nccl needs a GPU of its own per rank, and this machine has more local ranks than GPUs (use --dist-backend gloo)");
                if (!ProcessGroup.IsAvailable("nccl")) throw new CliException("this libtorch shim has no NCCL, or no GPU is present: build it against a CUDA LibTorch (TORCH_DIR=... build/bootstrap.sh torch-shim), or use --dist-backend gloo");
                return "nccl";
            default:
                throw new CliException($"unknown --dist-backend '{requested}' (auto, gloo or nccl)");
        }
    }

    /// <summary>Joins the group as <paramref name="rank"/> with <paramref name="backend"/> (<see cref="ChooseBackend"/>).</summary>
    public static ProcessGroup Join(string backend, int world, int rank, string address, int port, TimeSpan timeout, Device device) =>
        ProcessGroup.Init(backend, address, port, world, rank, timeout, device.Type == DeviceType.CUDA ? Math.Max(0, device.Index) : -1);

    private static void Kill(Process p)
    {
        try
        {
            if (!p.HasExited) p.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
        }
    }

    public enum Role
    {
        Single,
        Launcher,
        Rank,
    }
}
