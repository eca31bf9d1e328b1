namespace M2SNet.Edge.Bench.Fuzz;

/// <summary>
/// The byte-level damage every target applies to its valid inputs, each drawn from the input's own
/// seeded <see cref="Random"/> and described in a few words, so a failure can be made again.
/// </summary>
internal static class ByteMutations
{
    /// <summary>One of the mutations below, chosen at random.</summary>
    public static (byte[] Bytes, string What) Any(byte[] original, Random r) => r.Next(6) switch
    {
        0 => Truncate(original, r),
        1 => FlipBits(original, r),
        2 => OverwriteRun(original, r),
        3 => InsertRun(original, r),
        4 => DeleteRun(original, r),
        _ => (RandomBytes(r, r.Next(0, Math.Max(2, original.Length))), "random bytes"),
    };

    /// <summary>Cut short, anywhere from empty to one byte less than whole.</summary>
    public static (byte[] Bytes, string What) Truncate(byte[] original, Random r)
    {
        var keep = original.Length == 0 ? 0 : r.Next(0, original.Length);
        return (original[..keep], $"cut to {keep} of {original.Length} bytes");
    }

    /// <summary>1 to 16 single-bit flips.</summary>
    public static (byte[] Bytes, string What) FlipBits(byte[] original, Random r, int start = 0, int end = -1)
    {
        var copy = original.ToArray();
        if (copy.Length == 0) return (copy, "0 bit flips (empty)");
        end = end < 0 ? copy.Length : Math.Min(end, copy.Length);
        start = Math.Clamp(start, 0, end - 1);
        var flips = 1 + r.Next(16);
        for (var i = 0; i < flips; i++) copy[r.Next(start, end)] ^= (byte)(1 << r.Next(8));
        return (copy, $"{flips} bit flips in bytes {start}..{end}");
    }

    /// <summary>A run of 1 to 64 bytes overwritten with zeros, 0xFF or noise.</summary>
    public static (byte[] Bytes, string What) OverwriteRun(byte[] original, Random r, int start = 0, int end = -1)
    {
        var copy = original.ToArray();
        if (copy.Length == 0) return (copy, "empty");
        end = end < 0 ? copy.Length : Math.Min(end, copy.Length);
        start = Math.Clamp(start, 0, end - 1);
        var at = r.Next(start, end);
        var length = Math.Min(1 + r.Next(64), copy.Length - at);
        var fill = r.Next(3);
        for (var i = at; i < at + length; i++) copy[i] = fill switch { 0 => 0, 1 => 0xFF, _ => (byte)r.Next(256) };
        return (copy, $"{length} bytes at {at} overwritten with {(fill switch { 0 => "zeros", 1 => "0xFF", _ => "noise" })}");
    }

    public static (byte[] Bytes, string What) InsertRun(byte[] original, Random r)
    {
        var at = r.Next(0, original.Length + 1);
        var run = RandomBytes(r, 1 + r.Next(64));
        return ([.. original.AsSpan(0, at), .. run, .. original.AsSpan(at)], $"{run.Length} noise bytes inserted at {at}");
    }

    public static (byte[] Bytes, string What) DeleteRun(byte[] original, Random r)
    {
        if (original.Length < 2) return Truncate(original, r);
        var at = r.Next(0, original.Length - 1);
        var length = Math.Min(1 + r.Next(64), original.Length - at);
        return ([.. original.AsSpan(0, at), .. original.AsSpan(at + length)], $"{length} bytes deleted at {at}");
    }

    public static byte[] RandomBytes(Random r, int length)
    {
        var bytes = new byte[length];
        r.NextBytes(bytes);
        return bytes;
    }

    /// <summary>A short printable or unprintable name, for unknown services, methods, keys.</summary>
    public static string RandomName(Random r, int maxLength)
    {
        var length = 1 + r.Next(maxLength);
        var chars = new char[length];
        for (var i = 0; i < length; i++) chars[i] = r.Next(10) == 0 ? (char)r.Next(0x80, 0x3000) : (char)r.Next('a', 'z' + 1);
        return new string(chars);
    }
}
