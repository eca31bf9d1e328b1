// One daemon serves the tests that do not need their own, and the tests run one at a time:
// several measure how the daemon keeps up, which other tests' load on two cores would blur.
[assembly: AssemblyFixture(typeof(M2SNet.Edge.Daemon.Tests.DaemonFixture))]
[assembly: CollectionBehavior(DisableTestParallelization = true)]
