using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using M2SNet.Edge.Daemon.Configuration;
using Grpc.Core;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace M2SNet.Edge.Daemon.Services;

/// <summary>
/// Bounds what clients can make the daemon hold in request messages that have begun to arrive but
/// are not complete (Grpc.AspNetCore buffers a whole message before it parses it, so a client that
/// announces 32 MiB and stops after 31 would otherwise pin 31 MiB for as long as it likes):
/// all calls together hold at most Daemon:Limits:MaxUnfinishedMessageBytes (one address off this
/// machine at most MaxUnfinishedMessageBytesPerPeer), and a message must
/// finish arriving within Daemon:Limits:MessageTimeoutSeconds of its first unread byte. A call
/// over either bound ends with RESOURCE_EXHAUSTED and the reason; the bytes are released at once.
/// </summary>
public sealed class UnfinishedMessages(IOptions<DaemonOptions> options, TimeProvider? time = null)
{
    private readonly long _limit = options.Value.Limits.MaxUnfinishedMessageBytes;
    private readonly long _peerLimit = options.Value.Limits.MaxUnfinishedMessageBytesPerPeer;
    private readonly TimeSpan _timeout = TimeSpan.FromSeconds(options.Value.Limits.MessageTimeoutSeconds);
    private readonly int _maxMessageBytes = options.Value.Limits.MaxReceiveMessageBytes;
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly Lock _peersGate = new();
    private readonly Dictionary<IPAddress, PeerAccount> _peers = [];
    private long _held;
    private long _refused;

    /// <summary>Bytes of unfinished request messages held now, across every call.</summary>
    public long Held => Interlocked.Read(ref _held);

    /// <summary>Calls ended for holding too much or too long.</summary>
    public long Refused => Interlocked.Read(ref _refused);

    /// <summary>Puts every gRPC request body read through a <see cref="BoundedBodyReader"/>.</summary>
    public static void MapTo(Microsoft.AspNetCore.Builder.IApplicationBuilder app)
    {
        app.Use(async (context, next) =>
        {
            // Resolved per call, not when the app is built: the options are validated when the host starts.
            var messages = context.RequestServices.GetRequiredService<UnfinishedMessages>();
            if (context.Request.ContentType?.StartsWith("application/grpc", StringComparison.OrdinalIgnoreCase) != true
                || context.Features.Get<IRequestBodyPipeFeature>() is not { } body)
            {
                await next(context).ConfigureAwait(false);
                return;
            }
            var bounded = new BoundedBodyReader(body.Reader, messages, messages.Open(context.Connection.RemoteIpAddress),
                RequestMessageCheck.For(context, messages._maxMessageBytes));
            context.Features.Set<IRequestBodyPipeFeature>(bounded);
            try
            {
                await next(context).ConfigureAwait(false);
            }
            finally
            {
                bounded.Release();
            }
        });
    }

    /// <summary>
    /// Moves a call's holding from <paramref name="before"/> to <paramref name="after"/> bytes; the
    /// bound it would pass (null: none) decides. Growth is refused whole, shrinking always goes.
    /// </summary>
    private string? TryHold(long before, long after, PeerAccount? peer)
    {
        var total = Interlocked.Add(ref _held, after - before);
        var ofPeer = peer is null ? 0 : Interlocked.Add(ref peer.Held, after - before);
        if (after <= before) return null;
        string? passed = total > _limit ? "MaxUnfinishedMessageBytes" : ofPeer > _peerLimit ? "MaxUnfinishedMessageBytesPerPeer" : null;
        if (passed is null) return null;
        Interlocked.Add(ref _held, before - after);
        if (peer is not null) Interlocked.Add(ref peer.Held, before - after);
        return passed;
    }

    /// <summary>What one address off this machine holds; loopback is bound by the total only.</summary>
    private sealed class PeerAccount(IPAddress address)
    {
        public readonly IPAddress Address = address;
        public long Held;
        public int Calls;
    }

    private PeerAccount? Open(IPAddress? remote)
    {
        if (remote is null || IPAddress.IsLoopback(remote)) return null;
        if (remote.IsIPv4MappedToIPv6) remote = remote.MapToIPv4();
        lock (_peersGate)
        {
            if (!_peers.TryGetValue(remote, out var account)) _peers[remote] = account = new PeerAccount(remote);
            account.Calls++;
            return account;
        }
    }

    private void Close(PeerAccount? account)
    {
        if (account is null) return;
        lock (_peersGate)
        {
            if (--account.Calls == 0) _peers.Remove(account.Address);
        }
    }

    private UnfinishedMessageException Refuse(string reason)
    {
        Interlocked.Increment(ref _refused);
        return new UnfinishedMessageException(reason);
    }

    /// <summary>
    /// The request body as Grpc.AspNetCore reads it, charged to the daemon's budget: what it has
    /// read but not consumed is an unfinished message.
    /// </summary>
    private sealed class BoundedBodyReader(PipeReader inner, UnfinishedMessages budget, PeerAccount? peer, RequestMessageCheck? check) : PipeReader, IRequestBodyPipeFeature
    {
        private int _released;
        private ReadOnlySequence<byte> _last;
        private long _charged;
        private long _since = -1; // when the unconsumed bytes began waiting (timestamp), -1: none

        public PipeReader Reader => this;

        public override async ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
        {
            var timed = _charged > 0 && budget._timeout > TimeSpan.Zero;
            var left = timed ? budget._timeout - budget._time.GetElapsedTime(_since) : Timeout.InfiniteTimeSpan;
            if (timed && left <= TimeSpan.Zero) throw TooSlow();
            using var timer = timed ? CancellationTokenSource.CreateLinkedTokenSource(cancellationToken) : null;
            timer?.CancelAfter(left);
            try
            {
                return Charge(await inner.ReadAsync(timer?.Token ?? cancellationToken).ConfigureAwait(false));
            }
            catch (OperationCanceledException) when (timed && !cancellationToken.IsCancellationRequested)
            {
                throw TooSlow();
            }
            // The client went away (or its deadline passed): a status, not an error with a stack trace in the log.
            catch (Exception e) when (e is OperationCanceledException or IOException)
            {
                throw ClientGone();
            }
        }

        public override bool TryRead(out ReadResult result)
        {
            if (!inner.TryRead(out result)) return false;
            result = Charge(result);
            return true;
        }

        public override void AdvanceTo(SequencePosition consumed) => AdvanceTo(consumed, consumed);

        public override void AdvanceTo(SequencePosition consumed, SequencePosition examined)
        {
            var used = _last.Slice(_last.Start, consumed).Length;
            var remaining = _last.Length - used;
            _last = default;
            budget.TryHold(_charged, remaining, peer); // never fails: it only shrinks
            _charged = remaining;
            try
            {
                inner.AdvanceTo(consumed, examined);
            }
            catch (IOException)
            {
                throw ClientGone();
            }
            if (used > 0) check?.Consumed();
            // A message finished (or the next one began): the clock starts again from now.
            if (remaining == 0) _since = -1;
            else if (used > 0 || _since < 0) _since = budget._time.GetTimestamp();
        }

        public override void CancelPendingRead() => inner.CancelPendingRead();

        public override void Complete(Exception? exception = null)
        {
            Release();
            inner.Complete(exception);
        }

        public void Release()
        {
            budget.TryHold(_charged, 0, peer);
            _charged = 0;
            if (Interlocked.Exchange(ref _released, 1) == 0) budget.Close(peer);
        }

        private ReadResult Charge(ReadResult result)
        {
            _last = result.Buffer;
            var length = result.Buffer.Length;
            if (budget.TryHold(_charged, length, peer) is { } passed)
            {
                var (held, limit, whose) = passed == "MaxUnfinishedMessageBytes"
                    ? (budget.Held, budget._limit, "the daemon already holds")
                    : (Interlocked.Read(ref peer!.Held), budget._peerLimit, $"{peer.Address} already has");
                inner.AdvanceTo(result.Buffer.Start, result.Buffer.End);
                _last = default;
                throw budget.Refuse($"{whose} {Mib(held)} of unfinished request messages (limit {Mib(limit)}, " +
                    $"Daemon:Limits:{passed}); this call's {Mib(length)} cannot be buffered now; send smaller messages or retry");
            }
            _charged = length;
            if (length > 0 && _since < 0) _since = budget._time.GetTimestamp();
            try
            {
                check?.Check(result.Buffer, result.IsCompleted);
            }
            catch (RpcException)
            {
                inner.AdvanceTo(result.Buffer.Start, result.Buffer.End);
                _last = default;
                throw;
            }
            return result;
        }

        private static RpcException ClientGone() => new(new Status(StatusCode.Cancelled, "the call ended while its request was arriving"));

        private UnfinishedMessageException TooSlow() => budget.Refuse(
            $"a request message has been arriving for more than {budget._timeout.TotalSeconds:0.#} s ({Mib(_charged)} so far) and is not complete " +
            "(Daemon:Limits:MessageTimeoutSeconds); the call is ended");

        private static string Mib(long bytes) => bytes >= 1024 * 1024
            ? $"{bytes / (1024.0 * 1024):0.0} MiB"
            : $"{bytes} bytes";
    }
}

/// <summary>A call ended by <see cref="UnfinishedMessages"/>: RESOURCE_EXHAUSTED with the bound it passed.</summary>
public sealed class UnfinishedMessageException(string reason) : RpcException(new Status(StatusCode.ResourceExhausted, reason));
