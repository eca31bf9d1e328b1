namespace M2SNet.Edge.Video;

/// <summary>
/// A single-slot hand-off that always holds the newest item: publishing over an unread item
/// disposes it and counts a drop, so a slow reader sees the latest frame and never a queue of
/// stale ones. One slot per consumer; safe for one writer and one reader on different threads.
/// </summary>
/// <param name="lockFreeWake">
/// Whether a blocked <see cref="Take"/> sleeps on a <see cref="WakeSignal"/> (no lock passes from
/// the publisher to the woken reader) or, when false, on a semaphore as before issue 18 (kept to
/// measure the difference).
/// </param>
public sealed class LatestSlot<T>(bool lockFreeWake = true) : IDisposable where T : class, IDisposable
{
    private readonly Lock _gate = new();
    private readonly SemaphoreSlim _signal = new(0, 1);
    private readonly WakeSignal _wake = new();
    private T? _item;
    private long _published;
    private long _dropped;
    private bool _completed;

    /// <summary>Items published so far.</summary>
    public long Published => Interlocked.Read(ref _published);

    /// <summary>Items replaced before anyone took them.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    public bool IsCompleted
    {
        get
        {
            lock (_gate) return _completed && _item is null;
        }
    }

    /// <summary>Offers the newest item; an unread older one is dropped (disposed). Returns false once completed.</summary>
    public bool Publish(T item)
    {
        T? old;
        lock (_gate)
        {
            if (_completed)
            {
                item.Dispose();
                return false;
            }
            old = _item;
            _item = item;
            _published++;
        }
        _wake.Wake();
        if (old is not null)
        {
            Interlocked.Increment(ref _dropped);
            old.Dispose();
        }
        else
        {
            Signal();
        }
        return true;
    }

    /// <summary>The newest item if there is one; the caller owns it.</summary>
    public bool TryTake(out T? item)
    {
        if (Volatile.Read(ref _item) is null)
        {
            item = null;
            return false;
        }
        lock (_gate)
        {
            item = _item;
            _item = null;
        }
        return item is not null;
    }

    /// <summary>Waits for an item; null when the slot is completed and empty.</summary>
    public async ValueTask<T?> TakeAsync(CancellationToken cancel = default)
    {
        while (true)
        {
            if (TryTake(out var item)) return item;
            lock (_gate)
            {
                if (_completed) return null;
            }
            await _signal.WaitAsync(cancel).ConfigureAwait(false);
        }
    }

    /// <summary>Blocking <see cref="TakeAsync"/>, for dedicated threads; null when completed.</summary>
    public T? Take(CancellationToken cancel = default)
    {
        while (true)
        {
            var seen = _wake.Generation;
            if (TryTake(out var item)) return item;
            lock (_gate)
            {
                if (_completed) return null;
            }
            if (lockFreeWake) _wake.Wait(seen, null, cancel);
            else _signal.Wait(cancel);
        }
    }

    /// <summary>No more items will come; readers drain what is there and then get null.</summary>
    public void Complete()
    {
        lock (_gate) _completed = true;
        _wake.Wake();
        Signal();
    }

    public void Dispose()
    {
        Complete();
        if (TryTake(out var item)) item!.Dispose();
        _signal.Dispose();
    }

    private void Signal()
    {
        try
        {
            if (_signal.CurrentCount == 0) _signal.Release();
        }
        catch (SemaphoreFullException)
        {
            // Already signalled by a racing publisher; one wake-up is enough.
        }
        catch (ObjectDisposedException)
        {
        }
    }
}
