using M2SNet.Edge.Daemon.Models;

namespace M2SNet.Edge.Daemon.Tests;

public sealed class FactoryChoiceTests
{
    [Fact]
    public void The_fastest_alternative_that_passed_runs_and_the_first_listed_wins_a_tie()
    {
        FactoryTrial Ok(string p, double ms) => new(p, "x", ms, null);
        FactoryTrial Failed(string p) => new(p, "", null, "self-test failed");

        Assert.Equal(1, FactoryChoice.Fastest([Ok("a", 7.3), Ok("b", 5.1)]));
        Assert.Equal(0, FactoryChoice.Fastest([Ok("a", 5.1), Ok("b", 5.1)]));
        Assert.Equal(1, FactoryChoice.Fastest([Failed("a"), Ok("b", 9)]));
        Assert.Equal(-1, FactoryChoice.Fastest([Failed("a"), Failed("b")]));
        Assert.Equal("a.onnx (x) 7.3 ms, b.onnx failed: self-test failed", FactoryChoice.Describe([Ok("/m/a.onnx", 7.26), Failed("/m/b.onnx")]));
    }
}
