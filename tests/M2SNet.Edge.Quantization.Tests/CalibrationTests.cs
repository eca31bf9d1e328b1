namespace M2SNet.Edge.Quantization.Tests;

public sealed class CalibrationTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("m2s-calibration-");

    public void Dispose() => _dir.Delete(recursive: true);

    [Fact]
    public void Ranges_always_hold_zero_and_percentiles_leave_out_rare_outliers()
    {
        var s = new TensorStatistics();
        var values = Enumerable.Range(0, 100_000).Select(i => (float)(i % 1000) + 5).Append(1e6f).ToArray();
        s.Extend(values);
        s.Tally(values);

        Assert.Equal((0f, 1e6f), s.Range(RangeMethod.MinMax));
        var (low, high) = s.Range(RangeMethod.Percentile9999);
        Assert.Equal(0f, low);
        Assert.InRange(high, 990, 1500);
    }

    [Fact]
    public void Signal_to_quantization_noise_is_about_54_dB_for_a_uniform_range_and_falls_when_it_clips()
    {
        var s = new TensorStatistics();
        var values = Enumerable.Range(0, 100_000).Select(i => i / 100f).ToArray(); // uniform in [0, 1000)
        s.Extend(values);
        s.Tally(values);

        // Rounding noise step²/12 with step 1000/255 against a mean square of 1000²/3: 54 dB.
        Assert.InRange(s.Sqnr((0, 1000)), 52, 56);
        // Half the values clipped to 500: about 9 dB.
        Assert.InRange(s.Sqnr((0, 500)), 7, 11);
    }

    [Fact]
    public void Eight_bit_parameters_put_zero_on_a_level()
    {
        var q = QuantParams.ForRange(-1, 3);
        Assert.Equal(4f / 255, q.Scale, 6);
        Assert.Equal(64, q.ZeroPoint);
        Assert.Equal(0, QuantParams.ForRange(0, 6).ZeroPoint);
        Assert.Equal(new QuantParams(1f, 0), QuantParams.ForRange(0, 0));
    }

    [Fact]
    public void Frames_spread_over_the_folder_and_every_fourth_is_held_out()
    {
        for (var i = 0; i < 10; i++) File.WriteAllBytes(Path.Combine(_dir.FullName, $"f{i:D2}.png"), [(byte)i]);
        File.WriteAllText(Path.Combine(_dir.FullName, "notes.txt"), "not a frame");

        var frames = CalibrationFrames.Load(_dir.FullName, 5);
        Assert.Equal(["f00", "f02", "f04", "f06", "f08"], frames.Frames.Select(f => f.Name));
        Assert.False(frames.HasMasks);
        var (calibration, held) = CalibrationFrames.Load(_dir.FullName).Split();
        Assert.Equal(["f03", "f07"], held.Frames.Select(f => f.Name));
        Assert.Equal(8, calibration.Frames.Count);
        Assert.Empty(calibration.Frames.Intersect(held.Frames));

        var before = frames.Sha256();
        File.WriteAllBytes(Path.Combine(_dir.FullName, "f04.png"), [99]);
        Assert.NotEqual(before, CalibrationFrames.Load(_dir.FullName, 5).Sha256());
    }

    [Fact]
    public void A_folder_without_frames_is_a_clear_error()
    {
        Assert.Contains("holds no frames", Assert.Throws<InvalidDataException>(() => CalibrationFrames.Load(_dir.FullName)).Message);
        Assert.Throws<DirectoryNotFoundException>(() => CalibrationFrames.Load(Path.Combine(_dir.FullName, "missing")));
    }
}
