using System.Security.Cryptography;
using System.Text;
using M2SNet.Edge.OpenCv;
using M2SNet.Edge.Training.Data;

namespace M2SNet.Edge.Quantization;

/// <summary>One frame of a calibration or validation set; the mask when the folder has one.</summary>
public sealed record CalibrationFrame(string Name, string ImagePath, string? MaskPath);

/// <summary>
/// Frames for calibration and for the accuracy check. A folder is either a dataset (images/ and
/// masks/, or the authors' image/ and mask/, or a folder of those) or a plain folder of frames.
/// With masks the check scores both models against them; without, against the float model's own
/// masks (then the float model scores what it scores against itself, and the check is stricter).
/// </summary>
public sealed class CalibrationFrames
{
    private static readonly string[] s_extensions = [".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"];

    private CalibrationFrames(string source, IReadOnlyList<CalibrationFrame> frames)
    {
        Source = source;
        Frames = frames;
    }

    public string Source { get; }

    public IReadOnlyList<CalibrationFrame> Frames { get; }

    public bool HasMasks => Frames.Count > 0 && Frames.All(f => f.MaskPath is not null);

    /// <summary>
    /// The frames of <paramref name="directory"/> in name order, at most <paramref name="limit"/>
    /// of them spread evenly over the folder (consecutive video frames say little more than one).
    /// </summary>
    public static CalibrationFrames Load(string directory, int? limit = null)
    {
        if (!Directory.Exists(directory)) throw new DirectoryNotFoundException($"frame folder not found: {directory}");
        var frames = new List<CalibrationFrame>();
        IReadOnlyList<DatasetFolder> datasets;
        try
        {
            datasets = DatasetLayout.Discover(directory);
        }
        catch (DirectoryNotFoundException)
        {
            datasets = [];
        }
        if (datasets.Count > 0)
        {
            foreach (var folder in datasets)
            {
                var (pairs, problems) = DatasetLayout.Pair(folder);
                if (problems.Count > 0) throw new DatasetException(folder.Name, problems);
                frames.AddRange(pairs.Select(p => new CalibrationFrame($"{folder.Name}/{p.Name}", p.ImagePath, p.MaskPath)));
            }
        }
        else
        {
            frames.AddRange(Directory.EnumerateFiles(directory)
                .Where(f => s_extensions.Contains(Path.GetExtension(f).ToLowerInvariant()))
                .Order(StringComparer.Ordinal)
                .Select(f => new CalibrationFrame(Path.GetFileNameWithoutExtension(f), f, null)));
        }
        if (frames.Count == 0) throw new InvalidDataException($"{directory} holds no frames (.png, .jpg, .bmp, .tif) and no dataset");
        if (limit is { } n)
        {
            if (n < 1) throw new ArgumentOutOfRangeException(nameof(limit), $"the number of frames must be at least 1, not {n}");
            if (frames.Count > n) frames = Enumerable.Range(0, n).Select(i => frames[(int)((long)i * frames.Count / n)]).ToList();
        }
        return new CalibrationFrames(Path.GetFullPath(directory), frames);
    }

    /// <summary>Every <paramref name="every"/>-th frame held out for the accuracy check, the rest for calibration.</summary>
    public (CalibrationFrames Calibration, CalibrationFrames Validation) Split(int every = 4)
    {
        if (Frames.Count < 2) throw new InvalidDataException($"{Source}: {Frames.Count} frame is too few to split into calibration and held-out frames");
        var held = Frames.Where((_, i) => i % every == every - 1).ToList();
        if (held.Count == 0) held = [Frames[^1]];
        var rest = Frames.Where(f => !held.Contains(f)).ToList();
        return (new CalibrationFrames(Source, rest), new CalibrationFrames(Source + $" (every {every}th frame, held out)", held));
    }

    /// <summary>SHA-256 over the frames' names and bytes, in order: which frames made the model.</summary>
    public string Sha256()
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var f in Frames)
        {
            hash.AppendData(Encoding.UTF8.GetBytes(f.Name + "\n"));
            hash.AppendData(File.ReadAllBytes(f.ImagePath));
        }
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    /// <summary>Reads a frame in colour; a file OpenCV cannot read is an error naming it.</summary>
    public static Mat Read(CalibrationFrame frame)
    {
        var image = Cv2.ImRead(frame.ImagePath, ImreadModes.Color);
        if (image.Empty)
        {
            image.Dispose();
            throw new InvalidDataException($"{frame.ImagePath}: not an image OpenCV can read");
        }
        return image;
    }
}
