namespace M2SNet.Edge.Bench.Fuzz;

/// <summary>
/// One category of malformed input: makes input number <c>index</c> from its own seeded
/// <see cref="Random"/> (so any one input can be made again alone), sends it, and judges the answer.
/// </summary>
internal interface IFuzzTarget
{
    string Category { get; }

    /// <summary>Generates, sends and judges one input; <paramref name="cancel"/> fires when its time bound has passed.</summary>
    Task<FuzzAnswer> RunAsync(Random random, CancellationToken cancel);
}
