using M2SNet.Edge.Daemon.Pipeline;
using Grpc.Core;
using M2SNet.Edge.Video;

namespace M2SNet.Edge.Daemon.Streaming;

/// <summary>One client of the live stream: its own single slot, so it drops only its own frames.</summary>
public sealed class Subscriber : IDisposable
{
    private readonly MaskPublisher _owner;
    private readonly CancellationTokenSource _evicted = new();
    private readonly CancellationTokenSource _writeAbandoned = new();
    private long _sent;
    private long _dropped;
    private long _skipped;
    private int _writing;
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

    /// <summary>Results replaced while this client's previous message was still being written to it: it read too slowly.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>
    /// Results replaced while nothing was being written to this client: the daemon's sending side
    /// did not come round in time (a busy CPU, e.g. under Segment load), not the client's reading.
    /// </summary>
    public long Skipped => Interlocked.Read(ref _skipped);

    /// <summary>Marks a write to the client in progress (its transport is what holds the next result back).</summary>
    public WriteScope Writing()
    {
        Volatile.Write(ref _writing, 1);
        return new WriteScope(this);
    }

    public readonly struct WriteScope(Subscriber subscriber) : IDisposable
    {
        public void Dispose() => Volatile.Write(ref subscriber._writing, 0);
    }

    /// <summary>Hands the newest result to this client; one it had not taken yet is replaced and counted against whoever held it back.</summary>
    internal void Offer(SegmentationResult.Lease lease)
    {
        // One publisher thread: the slot's drop count moves only here.
        var writing = Volatile.Read(ref _writing) != 0;
        var before = Slot.Dropped;
        Slot.Publish(lease);
        if (Slot.Dropped == before) return;
        if (writing) Interlocked.Increment(ref _dropped);
        else Interlocked.Increment(ref _skipped);
    }

    public long Sent => Interlocked.Read(ref _sent);

    /// <summary>The next result for this client; null once the publisher has stopped.</summary>
    public ValueTask<SegmentationResult.Lease?> NextAsync(CancellationToken cancel) => Slot.TakeAsync(cancel);

    internal void CountSent()
    {
        Interlocked.Increment(ref _sent);
        Volatile.Write(ref _droppedAtProgress, Dropped);
        Volatile.Write(ref _progressTicks, Environment.TickCount64);
    }

    /// <summary>Cancelled when the daemon ends this client's stream (<see cref="EndStatus"/> says how and why).</summary>
    public CancellationToken Evicted => _evicted.Token;

    /// <summary>
    /// Cancelled when a write to this client is to be given up: only for a client that stopped
    /// reading (its write may never finish). A stream ended for lost video lets the write in progress
    /// finish, so that the status arrives after it instead of a reset stream.
    /// </summary>
    public CancellationToken WriteAbandoned => _writeAbandoned.Token;

    /// <summary>
    /// The status the daemon ended this stream with: RESOURCE_EXHAUSTED to make room for another
    /// viewer, UNAVAILABLE when the video was lost or ended; null while it runs.
    /// </summary>
    public Status? EndStatus { get; private set; }

    /// <summary>Frames were there for it, yet it took none for <paramref name="stalledAfterMs"/>: it is not reading.</summary>
    internal bool IsStalled(long nowTicks, long stalledAfterMs) =>
        nowTicks - Volatile.Read(ref _progressTicks) >= stalledAfterMs && Dropped > Volatile.Read(ref _droppedAtProgress);

    internal long StalledSince => Volatile.Read(ref _progressTicks);

    internal void End(Status status, bool abandonWrite = false)
    {
        if (abandonWrite) _writeAbandoned.Cancel();
        EndStatus = status;
        _evicted.Cancel();
    }

    public void Dispose()
    {
        _owner.Remove(this);
        Slot.Dispose();
        _evicted.Dispose();
        _writeAbandoned.Dispose();
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
        stalled.End(new Status(StatusCode.ResourceExhausted,
            $"this stream was ended to make room for another viewer: it read nothing for {(now - stalled.StalledSince) / 1000.0:0.#} s while frames were there"), abandonWrite: true);
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
        foreach (var s in Volatile.Read(ref _subscribers)) s.Offer(result.Acquire());
        result.Release();
    }

    /// <summary>
    /// The video is gone (lost or ended): every live stream ends now with UNAVAILABLE and
    /// <paramref name="reason"/>, rather than waiting in silence; a client that asks again is told
    /// the same at once until frames flow again.
    /// </summary>
    public void EndStreams(string reason)
    {
        Subscriber[] all;
        lock (_gate)
        {
            all = _subscribers;
            _subscribers = [];
        }
        foreach (var s in all) s.End(new Status(StatusCode.Unavailable, reason));
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
