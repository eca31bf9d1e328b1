using M2SNet.Edge.Daemon.Pipeline;
using Grpc.Core;
using M2SNet.Edge.Video;

namespace M2SNet.Edge.Daemon.Streaming;

/// <summary>One client of the live stream: its own single slot, so it drops only its own frames.</summary>
public sealed class Subscriber : IDisposable
{
    private readonly MaskPublisher _owner;
    private long _sent;

    internal Subscriber(MaskPublisher owner, long id, string name, string peer, ClientMaskOptions options)
    {
        _owner = owner;
        Id = id;
        Name = name;
        Peer = peer;
        Options = options;
    }

    public long Id { get; }

    /// <summary>The name the client gave, or its address.</summary>
    public string Name { get; }

    public string Peer { get; }

    public ClientMaskOptions Options { get; }

    public DateTimeOffset Since { get; } = DateTimeOffset.UtcNow;

    internal LatestSlot<SegmentationResult.Lease> Slot { get; } = new();

    /// <summary>Results replaced before this client took them: it read too slowly.</summary>
    public long Dropped => Slot.Dropped;

    public long Sent => Interlocked.Read(ref _sent);

    /// <summary>The next result for this client; null once the publisher has stopped.</summary>
    public ValueTask<SegmentationResult.Lease?> NextAsync(CancellationToken cancel) => Slot.TakeAsync(cancel);

    internal void CountSent() => Interlocked.Increment(ref _sent);

    public void Dispose()
    {
        _owner.Remove(this);
        Slot.Dispose();
    }
}

/// <summary>
/// Fans results out to every subscriber. Publishing never waits for a client: each has a
/// single-slot hand-off, and a client that has not taken the previous result loses it (counted).
/// </summary>
public sealed class MaskPublisher(int maxSubscribers)
{
    private readonly Lock _gate = new();
    private Subscriber[] _subscribers = [];
    private long _nextId;
    private bool _stopped;

    public IReadOnlyList<Subscriber> Subscribers => Volatile.Read(ref _subscribers);

    /// <summary>Adds a client; RESOURCE_EXHAUSTED when the configured number are already connected.</summary>
    public Subscriber Subscribe(string name, string peer, ClientMaskOptions options)
    {
        lock (_gate)
        {
            if (_stopped) throw new RpcException(new Status(StatusCode.Unavailable, "the daemon is shutting down"));
            if (_subscribers.Length >= maxSubscribers)
            {
                throw new RpcException(new Status(StatusCode.ResourceExhausted, $"{_subscribers.Length} clients are already streaming (the limit is {maxSubscribers}; Daemon:Stream:MaxSubscribers)"));
            }
            var subscriber = new Subscriber(this, ++_nextId, name, peer, options);
            _subscribers = [.. _subscribers, subscriber];
            return subscriber;
        }
    }

    /// <summary>Hands <paramref name="result"/> to every subscriber and releases the caller's reference.</summary>
    public void Publish(SegmentationResult result)
    {
        foreach (var s in Volatile.Read(ref _subscribers)) s.Slot.Publish(result.Acquire());
        result.Release();
    }

    /// <summary>No more results: every client's stream ends.</summary>
    public void Stop()
    {
        Subscriber[] all;
        lock (_gate)
        {
            _stopped = true;
            all = _subscribers;
        }
        foreach (var s in all) s.Slot.Complete();
    }

    internal void Remove(Subscriber subscriber)
    {
        lock (_gate) _subscribers = [.. _subscribers.Where(s => s != subscriber)];
    }
}
