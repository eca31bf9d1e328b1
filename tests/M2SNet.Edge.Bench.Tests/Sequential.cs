// Benchmarks measure the process they run in: the fuzz run bounds this process's RSS growth, and
// the hold benchmark's baseline fills hundreds of MiB on purpose. Run one at a time, so neither
// reads the other's memory or time.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
