using System.Runtime.InteropServices;

namespace M2SNet.Edge.Video;

/// <summary>
/// The calling thread's scheduling weight on Linux (its nice value; each step is about 1.25x less
/// CPU share when threads compete). Raising a thread's nice value needs no privilege, and threads it
/// creates afterwards (FFmpeg's decoder threads, ONNX Runtime's pool) inherit it. .NET's
/// ThreadPriority has no effect there for unprivileged processes. Elsewhere this does nothing.
/// </summary>
public static class ThreadNice
{
    /// <summary>Makes the calling thread <paramref name="steps"/> nicer than it is; false where that is not possible.</summary>
    public static bool Lower(int steps)
    {
        if (!OperatingSystem.IsLinux() || steps <= 0) return false;
        // PRIO_PROCESS (0) with a thread id addresses that thread on Linux. getpriority returns the
        // nice value itself here (glibc's wrapper undoes the kernel's 20 - nice).
        var tid = GetTid();
        Marshal.SetLastPInvokeError(0);
        var current = GetPriority(0, tid);
        if (current == -1 && Marshal.GetLastPInvokeError() != 0) return false;
        return SetPriority(0, tid, Math.Min(19, current + steps)) == 0;
    }

    /// <summary>The calling thread's nice value, or null where there is none.</summary>
    public static int? Current()
    {
        if (!OperatingSystem.IsLinux()) return null;
        Marshal.SetLastPInvokeError(0);
        var value = GetPriority(0, GetTid());
        return value == -1 && Marshal.GetLastPInvokeError() != 0 ? null : value;
    }

    /// <summary>
    /// Asks the scheduler (Linux 6.12+, EEVDF) for short time slices on the calling thread, keeping its
    /// nice value: a thread woken with a shorter slice than the one running gets the core at once
    /// instead of when that one's slice (3 ms by default) ends. A frame's stage runs briefly and then
    /// waits again, so it gives up nothing by it. False where the kernel does not take it.
    /// </summary>
    public static bool RequestSlice(TimeSpan slice)
    {
        if (!OperatingSystem.IsLinux() || Current() is not { } nice) return false;
        var number = RuntimeInformation.ProcessArchitecture switch
        {
            Architecture.X64 => 314,
            Architecture.Arm64 => 274,
            _ => -1,
        };
        if (number < 0) return false;
        // struct sched_attr (version 1, 56 bytes): size, policy, flags, nice, priority, runtime (the slice), deadline, period, util_min, util_max.
        Span<byte> attr = stackalloc byte[56];
        attr.Clear();
        BitConverter.TryWriteBytes(attr[0..4], 56u);
        BitConverter.TryWriteBytes(attr[16..20], nice);
        BitConverter.TryWriteBytes(attr[24..32], (ulong)(slice.Ticks * 100));
        unsafe
        {
            fixed (byte* p = attr)
            {
                return Syscall(number, GetTid(), (nint)p, 0) == 0;
            }
        }
    }

    [DllImport("libc", EntryPoint = "syscall", SetLastError = true)]
    private static extern long Syscall(long number, long tid, nint attr, long flags);

    [DllImport("libc", EntryPoint = "setpriority", SetLastError = true)]
    private static extern int SetPriority(int which, int who, int priority);

    [DllImport("libc", EntryPoint = "getpriority", SetLastError = true)]
    private static extern int GetPriority(int which, int who);

    [DllImport("libc", EntryPoint = "gettid")]
    private static extern int GetTid();
}
