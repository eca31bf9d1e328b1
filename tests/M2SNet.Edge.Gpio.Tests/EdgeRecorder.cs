using System.Device.Gpio;

namespace M2SNet.Edge.Gpio.Tests;

/// <summary>Collects the edges a callback is given, and lets a test wait for edges a real timer delivers.</summary>
internal sealed class EdgeRecorder
{
    /// <summary>Long enough for a timer to fire on a loaded two-core machine; only a failing test waits this long.</summary>
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    private readonly Lock _gate = new();
    private readonly List<(int Pin, PinEventTypes Edge)> _edges = [];
    private readonly SemaphoreSlim _arrived = new(0);

    public IReadOnlyList<(int Pin, PinEventTypes Edge)> Edges
    {
        get
        {
            lock (_gate) return [.. _edges];
        }
    }

    public void Record(object sender, PinValueChangedEventArgs e)
    {
        lock (_gate) _edges.Add((e.PinNumber, e.ChangeType));
        _arrived.Release();
    }

    /// <summary>Waits until <paramref name="count"/> edges in all have arrived.</summary>
    public void WaitFor(int count)
    {
        for (var seen = 0; seen < count; seen++)
        {
            if (!_arrived.Wait(Patience, TestContext.Current.CancellationToken))
            {
                Assert.Fail($"expected {count} edges within {Patience.TotalSeconds} s, got [{string.Join(", ", Edges)}]");
            }
        }
    }
}
