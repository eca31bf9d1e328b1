using M2SNet.Edge.Models;
using M2SNet.Edge.OpenCv;
using M2SNet.Edge.Training.Data;
using M2SNet.Edge.Synthetic;

namespace M2SNet.Edge.Training.Tests;

public sealed class SyntheticTests
{
    [Fact]
    public void The_same_seed_draws_the_same_frame_and_another_seed_another()
    {
        static byte[] Draw(int seed)
        {
            using var scene = new SyntheticScene(seed, new SyntheticOptions(96, 80));
            using var image = new Mat();
            using var mask = new Mat();
            scene.Render(0, image, mask);
            return image.AsSpan<byte>().ToArray();
        }

        Assert.Equal(Draw(4), Draw(4));
        Assert.NotEqual(Draw(4), Draw(5));
    }

    [Fact]
    public void Masks_are_exact_lesions_inside_the_field_of_view_and_move_with_time()
    {
        using var scene = new SyntheticScene(11, new SyntheticOptions(128, 128));
        using var image = new Mat();
        using var mask = new Mat();

        scene.Render(0, image, mask);
        var first = mask.AsSpan<byte>().ToArray();
        scene.Render(30, image, mask);
        var later = mask.AsSpan<byte>().ToArray();

        Assert.All(first, v => Assert.True(v is 0 or 255));
        var area = first.Count(v => v == 255);
        Assert.InRange(area, 50, 128 * 128 / 2);
        Assert.Equal(0, first[0]); // the corner is in the black border
        Assert.Equal(0, image.AsSpan<byte>()[0]);
        Assert.NotEqual(first, later);
    }

    [Fact]
    public void A_written_dataset_is_in_the_Kvasir_layout_and_pairs_completely()
    {
        var dir = Directory.CreateTempSubdirectory("m2s-synth-");
        try
        {
            SyntheticDataset.Write(dir.FullName, 5, seed: 3, new SyntheticOptions(64, 64));

            var folder = Assert.Single(DatasetLayout.Discover(dir.FullName));
            var (pairs, problems) = DatasetLayout.Pair(folder);
            Assert.Equal(5, pairs.Count);
            Assert.Empty(problems);
            Assert.EndsWith("images", folder.ImagesDirectory, StringComparison.Ordinal);
        }
        finally
        {
            dir.Delete(true);
        }
    }
}

public sealed class DatasetTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("m2s-data-");

    public void Dispose() => _dir.Delete(true);

    [Fact]
    public void The_authors_test_layout_gives_one_dataset_per_folder()
    {
        foreach (var name in new[] { "CVC-300", "Kvasir" })
        {
            SyntheticDataset.Write(Path.Combine(_dir.FullName, "tmp"), 2, 1, new SyntheticOptions(64, 64));
            var target = Directory.CreateDirectory(Path.Combine(_dir.FullName, name)).FullName;
            Directory.Move(Path.Combine(_dir.FullName, "tmp", "images"), Path.Combine(target, "image"));
            Directory.Move(Path.Combine(_dir.FullName, "tmp", "masks"), Path.Combine(target, "mask"));
        }

        var datasets = DatasetLayout.Discover(_dir.FullName);

        Assert.Equal(["CVC-300", "Kvasir"], datasets.Select(d => d.Name));
    }

    [Fact]
    public void Every_bad_file_is_listed_in_one_error_and_skip_bad_leaves_them_out()
    {
        SyntheticDataset.Write(_dir.FullName, 6, 1, new SyntheticOptions(64, 64));
        var images = Path.Combine(_dir.FullName, "images");
        var masks = Path.Combine(_dir.FullName, "masks");
        File.Delete(Path.Combine(masks, "synth_000001.png")); // an image without mask
        File.WriteAllText(Path.Combine(masks, "orphan.png"), "x"); // a mask without image
        File.WriteAllText(Path.Combine(images, "synth_000002.png"), "not a png"); // unreadable
        using (var small = new Mat(32, 32, MatType.CV_8UC1)) Cv2.ImWrite(Path.Combine(masks, "synth_000003.png"), small); // size mismatch
        var folders = DatasetLayout.Discover(_dir.FullName);

        var e = Assert.Throws<DatasetException>(() => SampleSet.Load(folders, 64, skipBad: false));

        Assert.Equal(4, e.Problems.Count);
        Assert.Contains(e.Problems, p => p.Contains("synth_000001.png: no mask", StringComparison.Ordinal));
        Assert.Contains(e.Problems, p => p.Contains("orphan.png: no image", StringComparison.Ordinal));
        Assert.Contains(e.Problems, p => p.Contains("synth_000002", StringComparison.Ordinal) && p.Contains("cannot read", StringComparison.Ordinal));
        Assert.Contains(e.Problems, p => p.Contains("64x64 but its mask is 32x32", StringComparison.Ordinal));
        Assert.Contains("--skip-bad", e.Message);

        var kept = SampleSet.Load(folders, 64, skipBad: true);
        Assert.Equal(3, kept.Count);
        Assert.Equal(4, kept.Skipped.Count);
    }

    [Fact]
    public void Split_holds_out_a_seeded_share()
    {
        SyntheticDataset.Write(_dir.FullName, 10, 1, new SyntheticOptions(64, 64));
        var set = SampleSet.Load(DatasetLayout.Discover(_dir.FullName), 64, false);

        var (a, b) = set.Split(0.2, seed: 7);
        var (c, d) = set.Split(0.2, seed: 7);

        Assert.Equal(8, a.Count);
        Assert.Equal(2, b.Count);
        Assert.Equal(b.Samples.Select(s => s.Name), d.Samples.Select(s => s.Name));
        Assert.Empty(a.Samples.Select(s => s.Name).Intersect(b.Samples.Select(s => s.Name)));
        Assert.Equal(8, c.Count);
    }
}

public sealed class AugmenterTests
{
    private static LoadedSample Sample()
    {
        const int s = 8;
        var rgb = new byte[s * s * 3];
        var mask = new byte[s * s];
        for (var y = 0; y < s; y++)
        for (var x = 0; x < s; x++)
        {
            rgb[(y * s + x) * 3] = (byte)(x * 30);
            rgb[(y * s + x) * 3 + 1] = 128;
            rgb[(y * s + x) * 3 + 2] = 255;
            mask[y * s + x] = x < 2 ? (byte)255 : (byte)0;
        }
        return new LoadedSample("d", "n", rgb, mask, s, s, s);
    }

    [Fact]
    public void Without_augmentation_pixels_are_normalised_with_the_ImageNet_statistics()
    {
        var aug = new Augmenter(1, ModelRegistry.ImageNetMean, ModelRegistry.ImageNetStd);
        var image = new float[3 * 64];
        var mask = new float[64];

        aug.Apply(Sample(), image, mask, augment: false);

        Assert.Equal((90 / 255f - 0.485f) / 0.229f, image[3], 4); // red channel, x = 3
        Assert.Equal((128 / 255f - 0.456f) / 0.224f, image[64], 4);
        Assert.Equal((1f - 0.406f) / 0.225f, image[128], 4);
        Assert.Equal(1f, mask[1]);
        Assert.Equal(0f, mask[2]);
    }

    [Fact]
    public void A_flip_mirrors_image_and_mask_together()
    {
        // Always flip, never rotate.
        var aug = new Augmenter(1, ModelRegistry.ImageNetMean, ModelRegistry.ImageNetStd, flipProbability: 1, rotationProbability: 0);
        var image = new float[3 * 64];
        var mask = new float[64];

        aug.Apply(Sample(), image, mask);

        Assert.Equal(1f, mask[7]);
        Assert.Equal(0f, mask[0]);
        Assert.Equal((0 / 255f - 0.485f) / 0.229f, image[7], 4); // x = 0 moved to x = 7
    }

    [Fact]
    public void The_same_seed_augments_the_same_way()
    {
        float[] Run()
        {
            var aug = new Augmenter(9, ModelRegistry.ImageNetMean, ModelRegistry.ImageNetStd);
            var image = new float[3 * 64];
            var mask = new float[64];
            for (var i = 0; i < 5; i++) aug.Apply(Sample(), image, mask);
            return image;
        }

        Assert.Equal(Run(), Run());
    }
}

public sealed class RecipeTests
{
    private static TrainingOptions Options(int epochs = 50) => new()
    {
        Model = "m2snet", TrainData = [], OutputDirectory = "/tmp", Epochs = epochs,
    };

    [Fact]
    public void Multi_scale_sizes_round_to_multiples_of_32_as_the_authors_do()
    {
        var o = Options();

        Assert.Equal([256, 352, 448], o.Rates.Select(o.SizeAt));
    }

    [Fact]
    public void The_schedule_rises_to_the_middle_epoch_and_falls_back()
    {
        var o = Options(epochs: 50);

        Assert.Equal(2.0 / 51, o.ScheduleFactor(0), 12);
        Assert.Equal(1 - Math.Abs(50.0 / 51 - 1), o.ScheduleFactor(24), 12);
        Assert.Equal(2.0 / 51, o.ScheduleFactor(49), 12);
        Assert.True(o.ScheduleFactor(24) > o.ScheduleFactor(10));
    }

    [Fact]
    public void Task_presets_are_the_papers_epochs()
    {
        Assert.Equal(50, TaskPresets.Epochs["polyp"]);
        Assert.Equal(200, TaskPresets.Epochs["lung"]);
        Assert.Equal(100, TaskPresets.Epochs["breast"]);
        Assert.Equal(100, TaskPresets.Epochs["OCT"]);
    }
}
