namespace M2SNet.Edge.Video.Tests;

public sealed class ThreadNiceTests
{
    private static T OnNewThread<T>(Func<T> work)
    {
        T result = default!;
        var thread = new Thread(() => result = work());
        thread.Start();
        thread.Join();
        return result;
    }

    [Fact]
    public void Lowering_makes_only_the_calling_thread_nicer()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "nice values are Linux's");
        var mine = ThreadNice.Current()!.Value;

        var (lowered, after) = OnNewThread(() => (ThreadNice.Lower(2), ThreadNice.Current()));

        Assert.True(lowered);
        Assert.Equal(Math.Min(19, mine + 2), after);
        Assert.Equal(mine, ThreadNice.Current());
        Assert.False(OnNewThread(() => ThreadNice.Lower(0)));
    }

    [Fact]
    public void A_slice_request_keeps_the_threads_nice_value()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "scheduler slices are Linux's");

        var (before, after) = OnNewThread(() =>
        {
            ThreadNice.Lower(1);
            var b = ThreadNice.Current();
            ThreadNice.RequestSlice(TimeSpan.FromMicroseconds(200)); // taken on Linux 6.12+, refused before: either way
            return (b, ThreadNice.Current());
        });

        Assert.Equal(before, after);
    }
}
