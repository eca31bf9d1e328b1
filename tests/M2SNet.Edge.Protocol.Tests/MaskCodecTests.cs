using M2SNet.Edge.Protocol;

namespace M2SNet.Edge.Protocol.Tests;

public sealed class MaskCodecTests
{
    /// <summary>Random blobs with edges at every alignment, and sizes that are not multiples of 8 or 32.</summary>
    private static byte[] Blobs(int width, int height, int seed)
    {
        var rng = new Random(seed);
        var mask = new byte[width * height];
        for (var k = 0; k < 6; k++)
        {
            double cx = rng.Next(width), cy = rng.Next(height), r = 2 + rng.Next(Math.Max(3, width / 4));
            for (var y = 0; y < height; y++)
            for (var x = 0; x < width; x++)
            {
                if ((x - cx) * (x - cx) + (y - cy) * (y - cy) <= r * r) mask[y * width + x] = (byte)(k % 2 == 0 ? 255 : 1);
            }
        }
        return mask;
    }

    /// <summary>The definition, pixel by pixel: column-major runs starting with background.</summary>
    private static List<uint> ReferenceRle(byte[] mask, int width, int height)
    {
        var counts = new List<uint>();
        var value = false;
        uint run = 0;
        for (var x = 0; x < width; x++)
        for (var y = 0; y < height; y++)
        {
            var v = mask[y * width + x] != 0;
            if (v != value)
            {
                counts.Add(run);
                run = 0;
                value = v;
            }
            run++;
        }
        counts.Add(run);
        return counts;
    }

    [Theory]
    [InlineData(1920, 1080, 1)]
    [InlineData(37, 13, 2)]
    [InlineData(64, 1, 3)]
    [InlineData(1, 45, 4)]
    public void Bit_packing_is_row_major_most_significant_bit_first_and_round_trips(int width, int height, int seed)
    {
        var mask = Blobs(width, height, seed);
        var packed = MaskCodec.PackBits(mask, width, height, out var foreground);

        Assert.Equal((width * height + 7) / 8, packed.Length);
        Assert.Equal(mask.Count(b => b != 0), foreground);
        for (var i = 0; i < mask.Length; i++)
        {
            Assert.Equal(mask[i] != 0, (packed[i / 8] >> (7 - i % 8) & 1) == 1);
        }
        var back = new byte[mask.Length];
        MaskCodec.UnpackBits(packed, width, height, back);
        Assert.Equal(mask.Select(b => b != 0 ? (byte)255 : (byte)0), back);
    }

    [Theory]
    [InlineData(1920, 1080, 5)]
    [InlineData(37, 13, 6)]
    [InlineData(33, 1, 7)]
    [InlineData(1, 70, 8)]
    public void Run_lengths_match_the_column_major_definition_and_round_trip(int width, int height, int seed)
    {
        var mask = Blobs(width, height, seed);
        var counts = MaskCodec.EncodeRle(mask, width, height, out var foreground);

        Assert.Equal(ReferenceRle(mask, width, height), counts);
        Assert.Equal(mask.Count(b => b != 0), foreground);
        var back = new byte[mask.Length];
        MaskCodec.DecodeRle(counts, width, height, back);
        Assert.Equal(mask.Select(b => b != 0 ? (byte)255 : (byte)0), back);
    }

    [Fact]
    public void Run_lengths_start_with_an_empty_background_run_when_the_first_pixel_is_lesion()
    {
        // 3 wide, 2 high; column-major order: (0,0)=1 (0,1)=1 | (1,0)=0 (1,1)=1 | (2,0)=0 (2,1)=0.
        byte[] mask = [255, 0, 0, 255, 255, 0];
        Assert.Equal([0u, 2, 1, 1, 2], MaskCodec.EncodeRle(mask, 3, 2, out var fg));
        Assert.Equal(3, fg);
        Assert.Equal([6u], MaskCodec.EncodeRle(new byte[6], 3, 2, out _));
    }

    [Fact]
    public void Runs_that_do_not_cover_the_mask_are_refused()
    {
        var target = new byte[6];
        var e = Assert.Throws<ArgumentException>(() => MaskCodec.DecodeRle([2, 3], 3, 2, target));
        Assert.Contains("5 pixels", e.Message);
    }
}
