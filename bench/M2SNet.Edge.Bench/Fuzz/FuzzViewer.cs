using System.Diagnostics;
using Grpc.Core;
using M2SNet.Edge.Protocol.V1;

namespace M2SNet.Edge.Bench.Fuzz;

/// <summary>
/// The well-behaved client beside the fuzz: one StreamMasks call, read promptly for the whole
/// run, counting masks per second since <see cref="Start"/>. Any end of the call before
/// <see cref="StopAsync"/> is a failure (the daemon stopped serving its other clients).
/// </summary>
internal sealed class FuzzViewer(Segmentation.SegmentationClient client) : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly List<int> _perSecond = [];
    private readonly Stopwatch _clock = new();
    private readonly TaskCompletionSource _first = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task? _reading;
    private long _frames;
    private double _lastFrameAt;
    private double _longestGap;
    private string? _failure;

    /// <summary>Starts streaming and returns once the first mask has arrived.</summary>
    public async Task StartAsync(CancellationToken cancel)
    {
        _reading = Task.Run(ReadAsync, CancellationToken.None);
        await _first.Task.WaitAsync(TimeSpan.FromMinutes(2), cancel).ConfigureAwait(false);
    }

    /// <summary>Restarts the per-second count: the fuzz run begins now.</summary>
    public void Start()
    {
        lock (_perSecond)
        {
            _perSecond.Clear();
            (_frames, _longestGap, _lastFrameAt) = (0, 0, 0);
            _clock.Restart();
        }
    }

    /// <summary>Whether the call has failed so far (the fuzz stops early when it has).</summary>
    public string? Failure => Volatile.Read(ref _failure);

    public async Task<FuzzViewerFigures> StopAsync()
    {
        double elapsed;
        lock (_perSecond) elapsed = _clock.Elapsed.TotalSeconds;
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_reading is not null) await _reading.ConfigureAwait(false);
        lock (_perSecond)
        {
            while (_perSecond.Count < (int)Math.Ceiling(elapsed)) _perSecond.Add(0);
            return new FuzzViewerFigures(_frames, [.. _perSecond], Math.Max(_longestGap, elapsed - _lastFrameAt), _failure);
        }
    }

    private async Task ReadAsync()
    {
        try
        {
            using var call = client.StreamMasks(new StreamMasksRequest
            {
                ClientName = "fuzz-viewer",
                Options = new MaskOptions { Encoding = MaskEncoding.Rle, Width = 160, Height = 90 },
            }, new CallOptions(cancellationToken: _stop.Token));
            while (await call.ResponseStream.MoveNext(_stop.Token).ConfigureAwait(false))
            {
                lock (_perSecond)
                {
                    var now = _clock.Elapsed.TotalSeconds;
                    var second = (int)now;
                    while (_perSecond.Count <= second) _perSecond.Add(0);
                    _perSecond[second]++;
                    _frames++;
                    _longestGap = Math.Max(_longestGap, now - _lastFrameAt);
                    _lastFrameAt = now;
                }
                _first.TrySetResult();
            }
            _failure = "the stream ended";
        }
        // Stopped by us: a read in flight may end as UNAVAILABLE ("the request was aborted") rather than CANCELLED.
        catch (Exception e) when (_stop.IsCancellationRequested && e is OperationCanceledException or RpcException)
        {
        }
        catch (Exception e) when (e is RpcException or IOException or HttpRequestException)
        {
            _failure = e is RpcException rpc ? $"{StatusNames.Of(rpc.StatusCode)}: {rpc.Status.Detail}" : e.Message;
        }
        _first.TrySetException(new InvalidOperationException($"the viewer got no mask: {_failure}"));
    }

    public async ValueTask DisposeAsync()
    {
        if (!_stop.IsCancellationRequested) await StopAsync().ConfigureAwait(false);
        _stop.Dispose();
    }
}
