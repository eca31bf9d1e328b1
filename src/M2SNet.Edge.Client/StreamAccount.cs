using M2SNet.Edge.Protocol.V1;

namespace M2SNet.Edge.Client;

/// <summary>
/// Every frame between a subscriber's first and last message, accounted for: delivered, or missing.
/// A missing frame is either one the daemon missed at this client's own slot (its counters say so:
/// <c>dropped_frames</c> when the client read slowly, <c>skipped_frames</c> when the daemon's sending
/// side was busy) or one those counters do not explain, which only the pipeline's hand-off drops
/// (<c>m2s_pipeline_frames_dropped_total</c>) may account for.
/// </summary>
public sealed class StreamAccount
{
    private ulong _firstSequence, _lastSequence, _firstDropped, _lastDropped, _firstSkipped, _lastSkipped;

    public long Delivered { get; private set; }

    /// <summary>Sequence numbers skipped between consecutive messages.</summary>
    public long Missing { get; private set; }

    /// <summary>Frames the daemon says it dropped for this client between its first and last message.</summary>
    public long DroppedForClient => (long)(_lastDropped - _firstDropped);

    /// <summary>Frames the daemon says it skipped for this client (busy, not the client's fault) between its first and last message.</summary>
    public long SkippedForClient => (long)(_lastSkipped - _firstSkipped);

    /// <summary>Missing frames that this client's counters do not explain.</summary>
    public long NotExplainedByClient => Missing - DroppedForClient - SkippedForClient;

    /// <summary>Messages that broke the order (a sequence number not above the last one).</summary>
    public long OutOfOrder { get; private set; }

    public void Add(MaskMessage m)
    {
        if (Delivered == 0)
        {
            (_firstSequence, _firstDropped, _firstSkipped) = (m.Sequence, m.DroppedFrames, m.SkippedFrames);
        }
        else if (m.Sequence <= _lastSequence)
        {
            OutOfOrder++;
        }
        else
        {
            Missing += (long)(m.Sequence - _lastSequence - 1);
        }
        (_lastSequence, _lastDropped, _lastSkipped) = (m.Sequence, m.DroppedFrames, m.SkippedFrames);
        Delivered++;
    }

    public override string ToString() =>
        $"{Delivered} delivered over sequences {_firstSequence}..{_lastSequence}, {Missing} missing ({DroppedForClient} dropped for the client, {SkippedForClient} skipped by the busy daemon, " +
        $"{NotExplainedByClient} not explained by its counter), {OutOfOrder} out of order";
}
