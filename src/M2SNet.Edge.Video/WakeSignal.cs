using System.Runtime.InteropServices;

namespace M2SNet.Edge.Video;

/// <summary>
/// Wakes a thread that sleeps until something changed, with nothing for the woken thread to take
/// from the waker afterwards. A counter that every <see cref="Wake"/> advances; a sleeper passes the
/// value it saw and returns once the counter moved (or on timeout or cancellation). On Linux it is
/// a futex on that counter: the waker holds no lock, so the woken thread runs at once even when the
/// waker is then preempted or sleeps. (A monitor-based wake made the woken frame stage re-take the
/// monitor's lock from a low-priority capture thread, which on a 2-vCPU appliance cost up to 4 ms.)
/// Elsewhere a monitor stands in.
/// </summary>
public sealed class WakeSignal
{
    // Pinned, so the kernel may hold its address while a thread sleeps on it; the garbage
    // collector frees it with the signal, which a sleeper keeps alive.
    private readonly int[] _word = GC.AllocateArray<int>(1, pinned: true);
    private int _sleepers;

    /// <summary>Advances with every wake; read it before checking the condition, then sleep on it.</summary>
    public int Generation => Volatile.Read(ref _word[0]);

    /// <summary>Advances the counter and wakes every sleeper; no system call when none sleeps.</summary>
    public void Wake()
    {
        Interlocked.Increment(ref _word[0]);
        // The increment is a full fence: a sleeper counted after it sees the new value and does not sleep.
        if (Volatile.Read(ref _sleepers) == 0) return;
        if (OperatingSystem.IsLinux() && FutexNumber() is { } number)
        {
            unsafe
            {
                fixed (int* word = _word) Futex(number, word, FutexWakePrivate, int.MaxValue, null, 0, 0);
            }
        }
        else
        {
            lock (_word) Monitor.PulseAll(_word);
        }
    }

    /// <summary>
    /// Sleeps while the counter is still <paramref name="seen"/>, at most <paramref name="timeout"/>
    /// (infinite when null). Returns whether it moved; throws when <paramref name="cancel"/> fires.
    /// </summary>
    public bool Wait(int seen, TimeSpan? timeout, CancellationToken cancel)
    {
        if (Generation != seen) return true;
        cancel.ThrowIfCancellationRequested();
        using var wakeOnCancel = cancel.CanBeCanceled ? cancel.UnsafeRegister(static s => ((WakeSignal)s!).Wake(), this) : default;
        var deadline = timeout is { } t ? MonotonicClock.NowNs + (long)(t.Ticks * 100) : long.MaxValue;
        Interlocked.Increment(ref _sleepers);
        try
        {
            while (true)
            {
                // Cancellation wakes by moving the counter too: it is checked first so that it throws.
                cancel.ThrowIfCancellationRequested();
                if (Generation != seen) return true;
                var left = deadline == long.MaxValue ? long.MaxValue : deadline - MonotonicClock.NowNs;
                if (left <= 0) return false;
                SleepOnce(seen, left);
            }
        }
        finally
        {
            Interlocked.Decrement(ref _sleepers);
        }
    }

    private void SleepOnce(int seen, long leftNs)
    {
        if (OperatingSystem.IsLinux() && FutexNumber() is { } number)
        {
            // Returns at once when the word is no longer 'seen' (the kernel checks it atomically), on a wake, a signal or the timeout.
            var span = new TimeSpec { Seconds = leftNs / 1_000_000_000, Nanoseconds = leftNs % 1_000_000_000 };
            unsafe
            {
                fixed (int* word = _word) Futex(number, word, FutexWaitPrivate, seen, leftNs == long.MaxValue ? null : &span, 0, 0);
            }
            return;
        }
        lock (_word)
        {
            if (Generation != seen) return;
            Monitor.Wait(_word, leftNs == long.MaxValue ? Timeout.InfiniteTimeSpan : TimeSpan.FromTicks(Math.Max(1, leftNs / 100)));
        }
    }

    private const int FutexWaitPrivate = 0 | 128;
    private const int FutexWakePrivate = 1 | 128;

    private static long? FutexNumber() => RuntimeInformation.ProcessArchitecture switch
    {
        Architecture.X64 => 202,
        Architecture.Arm64 => 98,
        _ => null,
    };

    [StructLayout(LayoutKind.Sequential)]
    private struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [DllImport("libc", EntryPoint = "syscall")]
    private static extern unsafe long Futex(long number, int* word, int op, int value, TimeSpec* timeout, nint word2, int value3);
}
