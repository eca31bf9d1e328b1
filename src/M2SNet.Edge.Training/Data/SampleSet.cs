using M2SNet.Edge.OpenCv;

namespace M2SNet.Edge.Training.Data;

/// <summary>
/// A decoded sample at the training size: RGB pixels (H×W×3) and the mask (H×W, 0–255; binarised
/// at 128 before resizing, so only the resized edge is soft), with its source size.
/// </summary>
public sealed record LoadedSample(string Dataset, string Name, byte[] Rgb, byte[] Mask, int Size, int SourceWidth, int SourceHeight);

/// <summary>
/// The samples of one or more datasets, decoded once into memory at the training size. Loading
/// checks every pair: unpaired, unreadable and size-mismatched files are all reported together
/// (or, with <c>skipBad</c>, left out and counted).
/// </summary>
public sealed class SampleSet
{
    private SampleSet(IReadOnlyList<LoadedSample> samples, IReadOnlyList<string> skipped)
    {
        Samples = samples;
        Skipped = skipped;
    }

    public IReadOnlyList<LoadedSample> Samples { get; }

    /// <summary>Files left out with <c>skipBad</c>, with the reason.</summary>
    public IReadOnlyList<string> Skipped { get; }

    public int Count => Samples.Count;

    public static SampleSet Load(IReadOnlyList<DatasetFolder> folders, int size, bool skipBad, IProgress<(int Done, int Total)>? progress = null)
    {
        var work = new List<(DatasetFolder Folder, SamplePair Pair)>();
        var problems = new List<string>();
        foreach (var folder in folders)
        {
            var (pairs, unpaired) = DatasetLayout.Pair(folder);
            problems.AddRange(unpaired.Select(p => $"{folder.Name}: {p}"));
            work.AddRange(pairs.Select(p => (folder, p)));
        }
        var samples = new LoadedSample?[work.Count];
        var decodeProblems = new string?[work.Count];
        var done = 0;
        Parallel.For(0, work.Count, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, Environment.ProcessorCount) }, i =>
        {
            var (folder, pair) = work[i];
            try
            {
                samples[i] = Decode(folder.Name, pair, size);
            }
            catch (Exception e) when (e is OpenCvException or InvalidDataException)
            {
                decodeProblems[i] = $"{folder.Name}: {pair.Name}: {e.Message}";
            }
            progress?.Report((Interlocked.Increment(ref done), work.Count));
        });
        problems.AddRange(decodeProblems.OfType<string>());
        var name = string.Join(", ", folders.Select(f => f.Name));
        if (problems.Count > 0 && !skipBad) throw new DatasetException(name, problems);
        var loaded = samples.OfType<LoadedSample>().ToList();
        if (loaded.Count == 0) throw new DatasetException(name, problems.Count > 0 ? problems : ["no image/mask pairs found"]);
        return new SampleSet(loaded, problems);
    }

    /// <summary>A seeded split into training and held-out validation samples.</summary>
    public (SampleSet Train, SampleSet Validation) Split(double validationFraction, int seed)
    {
        if (validationFraction is <= 0 or >= 1) throw new ArgumentOutOfRangeException(nameof(validationFraction), "between 0 and 1");
        var order = Samples.ToArray();
        new Random(seed).Shuffle(order);
        var n = Math.Max(1, (int)Math.Round(order.Length * validationFraction));
        if (n >= order.Length) throw new InvalidOperationException($"{order.Length} samples are too few to hold {n} out for validation");
        return (new SampleSet(order[n..], Skipped), new SampleSet(order[..n], []));
    }

    private static LoadedSample Decode(string dataset, SamplePair pair, int size)
    {
        using var image = Cv2.ImRead(pair.ImagePath, ImreadModes.Color);
        using var mask = Cv2.ImRead(pair.MaskPath, ImreadModes.Grayscale);
        if (image.Rows != mask.Rows || image.Cols != mask.Cols)
        {
            throw new InvalidDataException($"image is {image.Cols}x{image.Rows} but its mask is {mask.Cols}x{mask.Rows}");
        }
        using var rgb = new Mat();
        using var resized = new Mat();
        Cv2.CvtColor(image, rgb, ColorConversionCodes.BGR2RGB);
        Cv2.Resize(rgb, resized, new Size(size, size), InterpolationFlags.Linear);
        using var binary = new Mat();
        using var maskResized = new Mat();
        Cv2.Threshold(mask, binary, 127, 255, ThresholdTypes.Binary);
        Cv2.Resize(binary, maskResized, new Size(size, size), InterpolationFlags.Linear);
        return new LoadedSample(dataset, pair.Name, resized.AsSpan<byte>().ToArray(), maskResized.AsSpan<byte>().ToArray(), size, image.Cols, image.Rows);
    }
}
