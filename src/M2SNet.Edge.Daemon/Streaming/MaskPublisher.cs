using M2SNet.Edge.Daemon.Pipeline;
using Grpc.Core;
using M2SNet.Edge.Video;

namespace M2SNet.Edge.Daemon.Streaming;

/// <summary>One client of the live stream: its own single slot, so it drops only its own frames.</summary>
public sealed class Subscriber : IDisposable
{
    private readonly MaskPublisher _owner;
    private readonly CancellationTokenSource _evicted = new();
    private long _sent;
    private long _progressTicks = Environment.TickCount64;
    private long _droppedAtProgress;

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

    internal void CountSent()
    {
        Interlocked.Increment(ref _sent);
        Volatile.Write(ref _droppedAtProgress, Slot.Dropped);
        Volatile.Write(ref _progressTicks, Environment.TickCount64);
    }

    /// <summary>Cancelled when the daemon ends this client's stream to make room (<see cref="EvictionReason"/> says why).</summary>
    public CancellationToken Evicted => _evicted.Token;

    public string? EvictionReason { get; private set; }

    /// <summary>Frames were there for it, yet it took none for <paramref name="stalledAfterMs"/>: it is not reading.</summary>
    internal bool IsStalled(long nowTicks, long stalledAfterMs) =>
        nowTicks - Volatile.Read(ref _progressTicks) >= stalledAfterMs && Slot.Dropped > Volatile.Read(ref _droppedAtProgress);

    internal long StalledSince => Volatile.Read(ref _progressTicks);

    internal void Evict(string reason)
    {
        EvictionReason = reason;
        _evicted.Cancel();
    }

    public void Dispose()
    {
        _owner.Remove(this);
        Slot.Dispose();
        _evicted.Dispose();
    }
}

/// <summary>
/// Fans results out to every subscriber. Publishing never waits for a client: each has a
/// single-slot hand-off, and a client that has not taken the previous result loses it (counted).
/// The limit on calls is the daemon's, not one client's: StreamMasks and Segment calls share it,
/// one address off this machine holds at most <c>maxPerPeer</c> of them, and a new viewer takes the
/// place of a subscriber that has stopped reading.
/// </summary>
public sealed class MaskPublisher(int maxSubscribers, int maxPerPeer = int.MaxValue, TimeSpan? stalledAfter = null)
{
    private readonly Lock _gate = new();
    private readonly long _stalledAfterMs = (long)(stalledAfter ?? TimeSpan.FromSeconds(5)).TotalMilliseconds;
    // Segment calls in progress, by peer address.
    private readonly Dictionary<string, int> _segmentCalls = new(StringComparer.Ordinal);
    private Subscriber[] _subscribers = [];
    private long _nextId;
    private bool _stopped;

    public IReadOnlyList<Subscriber> Subscribers => Volatile.Read(ref _subscribers);

    /// <summary>Segment calls in progress (they count towards the same limit).</summary>
    public int SegmentCalls
    {
        get
        {
            lock (_gate) return Segments;
        }
    }

    /// <summary>
    /// Adds a client. At the limit, the subscriber that has not read for longest (and at least the
    /// stall time) is evicted to make room; RESOURCE_EXHAUSTED when none has stalled.
    /// </summary>
    public Subscriber Subscribe(string name, string peer, ClientMaskOptions options)
    {
        lock (_gate)
        {
            Admit(peer);
            var subscriber = new Subscriber(this, ++_nextId, name, peer, options);
            _subscribers = [.. _subscribers, subscriber];
            return subscriber;
        }
    }

    /// <summary>Holds one of the calls the limit allows for a Segment call, until disposed.</summary>
    public IDisposable EnterSegment(string peer)
    {
        var host = PeerHost(peer);
        lock (_gate)
        {
            Admit(peer);
            _segmentCalls[host] = _segmentCalls.GetValueOrDefault(host) + 1;
        }
        return new SegmentSlot(this, host);
    }

    /// <summary>The address part of a gRPC peer ("ipv4:10.0.0.5:51234" → "10.0.0.5", "ipv6:[::1]:80" → "::1").</summary>
    public static string PeerHost(string peer)
    {
        if (!peer.StartsWith("ipv4:", StringComparison.Ordinal) && !peer.StartsWith("ipv6:", StringComparison.Ordinal)) return peer;
        var address = peer[5..];
        if (address.StartsWith('['))
        {
            var close = address.IndexOf(']', StringComparison.Ordinal);
            return close > 0 ? address[1..close] : address;
        }
        var colon = address.LastIndexOf(':');
        return colon > 0 && address.IndexOf(':') == colon ? address[..colon] : address;
    }

    private int Segments => _segmentCalls.Values.Sum();

    private static bool IsLoopback(string host) => System.Net.IPAddress.TryParse(host, out var ip) && System.Net.IPAddress.IsLoopback(ip);

    private void Admit(string peer)
    {
        if (_stopped) throw new RpcException(new Status(StatusCode.Unavailable, "the daemon is shutting down"));
        var host = PeerHost(peer);
        if (!IsLoopback(host))
        {
            var held = _subscribers.Count(s => PeerHost(s.Peer) == host) + _segmentCalls.GetValueOrDefault(host);
            if (held >= maxPerPeer)
            {
                throw new RpcException(new Status(StatusCode.ResourceExhausted,
                    $"{host} already has {held} streams (the limit per address is {maxPerPeer}; Daemon:Stream:MaxSubscribersPerPeer)"));
            }
        }
        var segments = Segments;
        if (_subscribers.Length + segments < maxSubscribers) return;
        var now = Environment.TickCount64;
        var stalled = _subscribers.Where(s => s.IsStalled(now, _stalledAfterMs)).MinBy(s => s.StalledSince);
        if (stalled is null)
        {
            throw new RpcException(new Status(StatusCode.ResourceExhausted,
                $"{_subscribers.Length} streams and {segments} Segment calls are in progress (the limit is {maxSubscribers}; Daemon:Stream:MaxSubscribers), and none has stopped reading"));
        }
        stalled.Evict($"this stream was ended to make room for another viewer: it read nothing for {(now - stalled.StalledSince) / 1000.0:0.#} s while frames were there");
        _subscribers = [.. _subscribers.Where(s => s != stalled)];
    }

    private void LeaveSegment(string host)
    {
        lock (_gate)
        {
            if (_segmentCalls.TryGetValue(host, out var n))
            {
                if (n > 1) _segmentCalls[host] = n - 1;
                else _segmentCalls.Remove(host);
            }
        }
    }

    private sealed class SegmentSlot(MaskPublisher owner, string host) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0) owner.LeaveSegment(host);
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
