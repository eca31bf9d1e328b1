namespace M2SNet.Edge.Training.Data;

/// <summary>One dataset: its images and masks folders.</summary>
public sealed record DatasetFolder(string Name, string ImagesDirectory, string MasksDirectory);

/// <summary>An image and its mask, paired by file stem.</summary>
public sealed record SamplePair(string Name, string ImagePath, string MaskPath);

/// <summary>What is wrong with a dataset, every problem listed.</summary>
public sealed class DatasetException(string dataset, IReadOnlyList<string> problems)
    : Exception($"dataset {dataset} has {problems.Count} problem(s):{Environment.NewLine}  " +
        string.Join(Environment.NewLine + "  ", problems.Take(50)) + (problems.Count > 50 ? $"{Environment.NewLine}  ... and {problems.Count - 50} more" : "") +
        $"{Environment.NewLine}(fix them, or pass --skip-bad to leave those files out)")
{
    public IReadOnlyList<string> Problems { get; } = problems;
}

/// <summary>
/// Finds datasets on disk. Accepted layouts: Kvasir-SEG (<c>images/</c> + <c>masks/</c>), the
/// authors' (<c>image/</c> + <c>mask/</c>), or a folder of such datasets (the authors'
/// <c>TestDataset/CVC-300</c>, <c>TestDataset/Kvasir</c>, ...). Images and masks pair by file stem.
/// </summary>
public static class DatasetLayout
{
    private static readonly string[] s_imageExtensions = [".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"];

    public static IReadOnlyList<DatasetFolder> Discover(string root)
    {
        if (!Directory.Exists(root)) throw new DirectoryNotFoundException($"dataset folder not found: {root}");
        if (TryLayout(root, out var single)) return [single];
        var children = Directory.GetDirectories(root).Order(StringComparer.Ordinal)
            .Select(d => TryLayout(d, out var f) ? f : null).OfType<DatasetFolder>().ToList();
        if (children.Count == 0)
        {
            throw new DirectoryNotFoundException(
                $"{root} holds no dataset: expected images/ and masks/ (Kvasir-SEG), image/ and mask/ (the authors' layout), or folders of those");
        }
        return children;
    }

    /// <summary>The pairs of a dataset, and the files that have no partner.</summary>
    public static (IReadOnlyList<SamplePair> Pairs, IReadOnlyList<string> Problems) Pair(DatasetFolder folder)
    {
        var images = Files(folder.ImagesDirectory);
        var masks = Files(folder.MasksDirectory);
        var problems = new List<string>();
        var pairs = new List<SamplePair>();
        foreach (var (stem, image) in images)
        {
            if (masks.TryGetValue(stem, out var mask)) pairs.Add(new SamplePair(stem, image, mask));
            else problems.Add($"{Rel(folder, image)}: no mask named {stem}.* in {Path.GetFileName(folder.MasksDirectory)}/");
        }
        foreach (var (stem, mask) in masks)
        {
            if (!images.ContainsKey(stem)) problems.Add($"{Rel(folder, mask)}: no image named {stem}.* in {Path.GetFileName(folder.ImagesDirectory)}/");
        }
        return (pairs, problems);
    }

    private static bool TryLayout(string dir, out DatasetFolder folder)
    {
        foreach (var (images, masks) in new[] { ("images", "masks"), ("image", "mask") })
        {
            var i = Path.Combine(dir, images);
            var m = Path.Combine(dir, masks);
            if (Directory.Exists(i) && Directory.Exists(m))
            {
                folder = new DatasetFolder(Path.GetFileName(Path.GetFullPath(dir).TrimEnd(Path.DirectorySeparatorChar)), i, m);
                return true;
            }
        }
        folder = null!;
        return false;
    }

    private static SortedDictionary<string, string> Files(string dir)
    {
        var result = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var f in Directory.EnumerateFiles(dir))
        {
            if (!s_imageExtensions.Contains(Path.GetExtension(f).ToLowerInvariant())) continue;
            result.TryAdd(Path.GetFileNameWithoutExtension(f), f);
        }
        return result;
    }

    private static string Rel(DatasetFolder folder, string path) =>
        Path.Combine(Path.GetFileName(Path.GetDirectoryName(path)!), Path.GetFileName(path));
}
