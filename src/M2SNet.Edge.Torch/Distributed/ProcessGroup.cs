using static M2SNet.Edge.Torch.Native.LibTorch;
using Tensor = M2SNet.Edge.Torch.torch.Tensor;

namespace M2SNet.Edge.Torch.Distributed;

/// <summary>
/// One rank's membership of a c10d process group (libtorch's distributed engine, as PyTorch's
/// torch.distributed uses it): a TCPStore rendezvous that rank 0 serves at host:port, and a gloo
/// (CPU) or NCCL (CUDA, in a shim built against a CUDA LibTorch) group over it. Collectives work in
/// place on the tensors given, bucketed into flat buffers of at most <see cref="BucketBytes"/> (one
/// collective per bucket, not per tensor). A collective that fails names the ranks that stopped
/// answering: every rank beats a counter in the store, and a silent counter marks a rank that died
/// or hangs.
/// </summary>
public sealed unsafe class ProcessGroup : IDisposable
{
    /// <summary>PyTorch DistributedDataParallel's default bucket size.</summary>
    public const long DefaultBucketBytes = 25L << 20;

    private nint _handle;

    private ProcessGroup(nint handle, string backend, int rank, int worldSize, TimeSpan timeout)
    {
        _handle = handle;
        Backend = backend;
        Rank = rank;
        WorldSize = worldSize;
        Timeout = timeout;
    }

    public string Backend { get; }

    public int Rank { get; }

    public int WorldSize { get; }

    /// <summary>How long joining, and any collective without progress, may take before it fails.</summary>
    public TimeSpan Timeout { get; }

    public long BucketBytes { get; set; } = DefaultBucketBytes;

    /// <summary>Whether this shim can run <paramref name="backend"/>: "gloo", or "nccl" (a CUDA build, with a GPU present).</summary>
    public static bool IsAvailable(string backend)
    {
        EnsureLoaded();
        return m2s_dist_available(backend) == 1;
    }

    /// <summary>
    /// Joins the group; returns once all <paramref name="worldSize"/> ranks have, or throws after
    /// <paramref name="timeout"/>. NCCL needs the rank's CUDA <paramref name="device"/>.
    /// </summary>
    public static ProcessGroup Init(string backend, string host, int port, int worldSize, int rank, TimeSpan timeout, int device = -1)
    {
        EnsureLoaded();
        var handle = m2s_dist_init(backend, host, port, worldSize, rank, (long)timeout.TotalMilliseconds, device);
        if (handle == 0) throw new TorchException($"rank {rank} of {worldSize} could not join the {backend} group at {host}:{port}: {LastError()}");
        return new ProcessGroup(handle, backend, rank, worldSize, timeout);
    }

    /// <summary>Every rank's tensors become their mean over the group (gradients after backward).</summary>
    public void AllReduceMean(IReadOnlyList<Tensor> tensors) => Collective(tensors, "all-reduce",
        (h, p, n) => m2s_dist_allreduce_mean(h, p, n, BucketBytes));

    /// <summary>Every rank's tensors become <paramref name="root"/>'s (parameters and buffers at start).</summary>
    public void Broadcast(IReadOnlyList<Tensor> tensors, int root = 0) => Collective(tensors, $"broadcast from rank {root}",
        (h, p, n) => m2s_dist_broadcast(h, p, n, root, BucketBytes));

    /// <summary>Returns when every rank has called it.</summary>
    public void Barrier()
    {
        if (m2s_dist_barrier(Handle) != 0) throw new TorchException($"rank {Rank}: barrier failed: {LastError()}");
    }

    public void Dispose()
    {
        var h = Interlocked.Exchange(ref _handle, 0);
        if (h != 0) m2s_dist_free(h);
    }

    private nint Handle
    {
        get
        {
            ObjectDisposedException.ThrowIf(_handle == 0, this);
            return _handle;
        }
    }

    private delegate int NativeCollective(nint group, nint* tensors, int count);

    private void Collective(IReadOnlyList<Tensor> tensors, string what, NativeCollective call)
    {
        if (tensors.Count == 0) return;
        var handles = new nint[tensors.Count];
        for (var i = 0; i < handles.Length; i++) handles[i] = tensors[i].Handle;
        int status;
        fixed (nint* p = handles) status = call(Handle, p, handles.Length);
        if (status != 0) throw new TorchException($"rank {Rank} of {WorldSize}: {what} failed: {LastError()}");
        GC.KeepAlive(tensors);
    }
}
