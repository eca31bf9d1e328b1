using System.Buffers;
using System.Numerics;
using System.Runtime.Intrinsics;

namespace M2SNet.Edge.Protocol;

/// <summary>
/// The wire forms of a binary mask (segmentation.proto, MaskEncoding): bit-packed rows (most
/// significant bit first) and COCO-style column-major run lengths. Masks are one byte per pixel,
/// row-major, non-zero meaning lesion. Encoders are vectorised: they run once per frame and size,
/// shared by every client asking for the same form.
/// </summary>
public static class MaskCodec
{
    private static readonly byte[] s_reverseBits = BuildReverseBits();

    public static int BitPackedLength(int width, int height) => checked((int)(((long)width * height + 7) / 8));

    /// <summary>Bit-packs <paramref name="mask"/> into <paramref name="destination"/>; returns the lesion pixel count.</summary>
    public static int PackBits(ReadOnlySpan<byte> mask, int width, int height, Span<byte> destination)
    {
        var n = checked(width * height);
        if (mask.Length < n) throw new ArgumentException($"the mask holds {mask.Length} pixels, not {width}x{height}");
        if (destination.Length < BitPackedLength(width, height)) throw new ArgumentException("the destination is too small");
        var i = 0;
        var foreground = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var zero = Vector256<byte>.Zero;
            for (; i + 32 <= n; i += 32)
            {
                // One bit per byte, pixel i in bit 0: reverse within each byte for MSB-first order.
                var bits = (~Vector256.Equals(Vector256.Create(mask.Slice(i, 32)), zero)).ExtractMostSignificantBits();
                foreground += BitOperations.PopCount(bits);
                var o = i >> 3;
                destination[o] = s_reverseBits[bits & 0xFF];
                destination[o + 1] = s_reverseBits[(bits >> 8) & 0xFF];
                destination[o + 2] = s_reverseBits[(bits >> 16) & 0xFF];
                destination[o + 3] = s_reverseBits[bits >> 24];
            }
        }
        for (; i < n; i += 8)
        {
            byte b = 0;
            var end = Math.Min(8, n - i);
            for (var k = 0; k < end; k++)
            {
                if (mask[i + k] != 0)
                {
                    b |= (byte)(0x80 >> k);
                    foreground++;
                }
            }
            destination[i >> 3] = b;
        }
        return foreground;
    }

    public static byte[] PackBits(ReadOnlySpan<byte> mask, int width, int height, out int foreground)
    {
        var packed = new byte[BitPackedLength(width, height)];
        foreground = PackBits(mask, width, height, packed);
        return packed;
    }

    /// <summary>Bit-packed bytes back to one byte per pixel (0 or 255).</summary>
    public static void UnpackBits(ReadOnlySpan<byte> packed, int width, int height, Span<byte> mask)
    {
        var n = checked(width * height);
        if (packed.Length < BitPackedLength(width, height)) throw new ArgumentException($"{packed.Length} bytes cannot hold a bit-packed {width}x{height} mask");
        if (mask.Length < n) throw new ArgumentException("the destination is too small");
        for (var i = 0; i < n; i++) mask[i] = (packed[i >> 3] & (0x80 >> (i & 7))) != 0 ? (byte)255 : (byte)0;
    }

    /// <summary>
    /// COCO uncompressed RLE: run lengths in column-major order, alternating background and lesion,
    /// starting with background. Works row by row (cache-friendly): only the rows where a column
    /// changes value are visited per column.
    /// </summary>
    public static uint[] EncodeRle(ReadOnlySpan<byte> mask, int width, int height, out int foreground)
    {
        var n = checked(width * height);
        if (mask.Length < n) throw new ArgumentException($"the mask holds {mask.Length} pixels, not {width}x{height}");
        foreground = 0;
        if (n == 0) return [];

        // Vertical transitions (x, y): the pixel at row y differs from row y − 1 in column x.
        var transitionsX = ArrayPool<int>.Shared.Rent(1024);
        var transitionsY = ArrayPool<int>.Shared.Rent(1024);
        var perColumn = ArrayPool<int>.Shared.Rent(width + 1);
        try
        {
            var count = 0;
            Array.Clear(perColumn, 0, width + 1);
            foreground = CountRow(mask[..width]);
            for (var y = 1; y < height; y++)
            {
                var above = mask.Slice((y - 1) * width, width);
                var row = mask.Slice(y * width, width);
                foreground += CountRow(row);
                var x = 0;
                while (x < width)
                {
                    x = NextDifference(above, row, x);
                    if (x >= width) break;
                    if (count == transitionsX.Length) Grow(ref transitionsX, ref transitionsY, count);
                    transitionsX[count] = x;
                    transitionsY[count] = y;
                    perColumn[x + 1]++;
                    count++;
                    x++;
                }
            }

            // Counting sort by column keeps rows ascending within each column.
            for (var x = 0; x < width; x++) perColumn[x + 1] += perColumn[x];
            var sortedY = ArrayPool<int>.Shared.Rent(Math.Max(1, count));
            try
            {
                var next = ArrayPool<int>.Shared.Rent(width);
                Array.Copy(perColumn, next, width);
                for (var t = 0; t < count; t++) sortedY[next[transitionsX[t]]++] = transitionsY[t];
                ArrayPool<int>.Shared.Return(next);

                var counts = new List<uint>(2 * count + 2 * width / 8 + 2);
                long runStart = 0;
                var value = false; // runs start with background
                for (var x = 0; x < width; x++)
                {
                    var top = mask[x] != 0;
                    if (top != value)
                    {
                        var at = (long)x * height;
                        counts.Add((uint)(at - runStart));
                        runStart = at;
                        value = top;
                    }
                    for (var t = perColumn[x]; t < perColumn[x + 1]; t++)
                    {
                        var at = (long)x * height + sortedY[t];
                        counts.Add((uint)(at - runStart));
                        runStart = at;
                        value = !value;
                    }
                }
                counts.Add((uint)(n - runStart));
                return [.. counts];
            }
            finally
            {
                ArrayPool<int>.Shared.Return(sortedY);
            }
        }
        finally
        {
            ArrayPool<int>.Shared.Return(transitionsX);
            ArrayPool<int>.Shared.Return(transitionsY);
            ArrayPool<int>.Shared.Return(perColumn);
        }
    }

    /// <summary>COCO RLE back to one byte per pixel (0 or 255), row-major.</summary>
    public static void DecodeRle(ReadOnlySpan<uint> counts, int width, int height, Span<byte> mask)
    {
        var n = (long)width * height;
        if (mask.Length < n) throw new ArgumentException("the destination is too small");
        long total = 0;
        foreach (var c in counts) total += c;
        if (total != n) throw new ArgumentException($"the runs cover {total} pixels, not {width}x{height} = {n}");
        long p = 0;
        var value = false;
        foreach (var c in counts)
        {
            for (long k = 0; k < c; k++, p++)
            {
                var x = (int)(p / height);
                var y = (int)(p % height);
                mask[y * width + x] = value ? (byte)255 : (byte)0;
            }
            value = !value;
        }
    }

    public static int CountForeground(ReadOnlySpan<byte> mask)
    {
        var total = 0;
        var i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            for (; i + 32 <= mask.Length; i += 32)
            {
                total += BitOperations.PopCount((~Vector256.Equals(Vector256.Create(mask.Slice(i, 32)), Vector256<byte>.Zero)).ExtractMostSignificantBits());
            }
        }
        for (; i < mask.Length; i++) if (mask[i] != 0) total++;
        return total;
    }

    private static int CountRow(ReadOnlySpan<byte> row) => CountForeground(row);

    /// <summary>The first column at or after <paramref name="x"/> where the two rows differ as lesion/background.</summary>
    private static int NextDifference(ReadOnlySpan<byte> above, ReadOnlySpan<byte> row, int x)
    {
        var width = row.Length;
        if (Vector256.IsHardwareAccelerated)
        {
            var zero = Vector256<byte>.Zero;
            while (x + 32 <= width)
            {
                var a = Vector256.Equals(Vector256.Create(above.Slice(x, 32)), zero);
                var b = Vector256.Equals(Vector256.Create(row.Slice(x, 32)), zero);
                var diff = (a ^ b).ExtractMostSignificantBits();
                if (diff != 0) return x + BitOperations.TrailingZeroCount(diff);
                x += 32;
            }
        }
        for (; x < width; x++) if ((above[x] != 0) != (row[x] != 0)) return x;
        return width;
    }

    private static void Grow(ref int[] xs, ref int[] ys, int count)
    {
        var nx = ArrayPool<int>.Shared.Rent(count * 2);
        var ny = ArrayPool<int>.Shared.Rent(count * 2);
        Array.Copy(xs, nx, count);
        Array.Copy(ys, ny, count);
        ArrayPool<int>.Shared.Return(xs);
        ArrayPool<int>.Shared.Return(ys);
        xs = nx;
        ys = ny;
    }

    private static byte[] BuildReverseBits()
    {
        var table = new byte[256];
        for (var i = 0; i < 256; i++)
        {
            var r = 0;
            for (var b = 0; b < 8; b++) if ((i & (1 << b)) != 0) r |= 0x80 >> b;
            table[i] = (byte)r;
        }
        return table;
    }
}
