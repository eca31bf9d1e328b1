using System.Globalization;
using System.Text.Json;
using M2SNet.Edge.Metrics;
using M2SNet.Edge.OpenCv;
using M2SNet.Edge.Training.Data;

namespace M2SNet.Edge.Training.Evaluation;

/// <summary>Scores of every dataset evaluated, and the files written.</summary>
public sealed record EvaluationReport(
    IReadOnlyList<DatasetScores> Datasets,
    IReadOnlyDictionary<string, IReadOnlyList<ImageScores>> Images,
    string? JsonPath,
    string? CsvPath,
    IReadOnlyList<string> WorstCaseImages,
    IReadOnlyList<string> Notes);

/// <summary>
/// Evaluates like the authors' test scripts: either a model predicting each image of each dataset
/// (probabilities at the mask's size) or folders of saved prediction maps against their masks;
/// every metric per image and per dataset; a table, JSON and CSV, and a picture of the worst cases.
/// </summary>
public static class Evaluator
{
    private const int Cell = 200;

    public static EvaluationReport Run(IPredictor predictor, IReadOnlyList<DatasetFolder> datasets, string? outputDirectory,
        int worstCases = 6, IProgress<(string Dataset, int Done, int Total)>? progress = null)
    {
        var results = new List<(MetricAccumulator Scores, List<SamplePair> Pairs)>();
        var notes = new List<string>();
        foreach (var folder in datasets)
        {
            var (pairs, problems) = DatasetLayout.Pair(folder);
            if (problems.Count > 0) throw new DatasetException(folder.Name, problems);
            var acc = new MetricAccumulator(folder.Name);
            var done = 0;
            foreach (var pair in pairs)
            {
                using var image = Cv2.ImRead(pair.ImagePath, ImreadModes.Color);
                using var mask = Cv2.ImRead(pair.MaskPath, ImreadModes.Grayscale);
                if (mask.Rows != image.Rows || mask.Cols != image.Cols)
                {
                    throw new DatasetException(folder.Name, [$"{pair.Name}: image is {image.Cols}x{image.Rows} but its mask is {mask.Cols}x{mask.Rows}"]);
                }
                var probability = predictor.Predict(image);
                acc.Add(pair.Name, SegmentationMap.Prepare(probability, ToFloat(mask), mask.Rows, mask.Cols));
                progress?.Report((folder.Name, ++done, pairs.Count));
            }
            results.Add((acc, pairs.ToList()));
        }
        return Write(results, outputDirectory, worstCases, notes, (pair, _) => PredictionFor(predictor, pair));
    }

    /// <summary>Scores saved prediction maps (8-bit images, paired by file stem) against masks, as test_score.py.</summary>
    public static EvaluationReport ScoreFolders(string predictions, string masks, string? outputDirectory, int worstCases = 6)
    {
        if (!Directory.Exists(predictions)) throw new DirectoryNotFoundException($"prediction folder not found: {predictions}");
        if (!Directory.Exists(masks)) throw new DirectoryNotFoundException($"mask folder not found: {masks}");
        var folder = new DatasetFolder(Path.GetFileName(Path.GetFullPath(predictions).TrimEnd('/')), predictions, masks);
        var (pairs, problems) = DatasetLayout.Pair(folder);
        if (problems.Count > 0) throw new DatasetException(folder.Name, problems);
        var acc = new MetricAccumulator(folder.Name);
        var resized = 0;
        foreach (var pair in pairs)
        {
            using var prediction = Cv2.ImRead(pair.ImagePath, ImreadModes.Grayscale);
            using var mask = Cv2.ImRead(pair.MaskPath, ImreadModes.Grayscale);
            using var fitted = new Mat();
            var p = prediction;
            if (prediction.Rows != mask.Rows || prediction.Cols != mask.Cols)
            {
                // test_score.py resizes the prediction to the mask with Pillow's default (bicubic).
                Cv2.Resize(prediction, fitted, new Size(mask.Cols, mask.Rows), InterpolationFlags.Cubic);
                p = fitted;
                resized++;
            }
            acc.Add(pair.Name, SegmentationMap.Prepare(ToFloat(p), ToFloat(mask), mask.Rows, mask.Cols));
        }
        var notes = resized > 0 ? new List<string> { $"{resized} prediction(s) of another size were resized to their mask (bicubic)" } : [];
        return Write([(acc, pairs.ToList())], outputDirectory, worstCases, notes, (pair, _) =>
        {
            using var prediction = Cv2.ImRead(pair.ImagePath, ImreadModes.Grayscale);
            return ToFloat(prediction).Select(v => v / 255f).ToArray();
        }, predictionsAreImages: true);
    }

    private static EvaluationReport Write(
        List<(MetricAccumulator Scores, List<SamplePair> Pairs)> results, string? outputDirectory, int worstCases, List<string> notes,
        Func<SamplePair, int, float[]> predictionFor, bool predictionsAreImages = false)
    {
        var datasets = results.Select(r => r.Scores.Result()).ToList();
        var images = results.ToDictionary(r => r.Scores.Dataset, r => r.Scores.Images, StringComparer.Ordinal);
        string? json = null, csv = null;
        var pictures = new List<string>();
        if (outputDirectory is not null)
        {
            Directory.CreateDirectory(outputDirectory);
            json = Path.Combine(outputDirectory, "metrics.json");
            File.WriteAllText(json, JsonSerializer.Serialize(new
            {
                datasets = datasets.Select(d => new
                {
                    dataset = d.Dataset,
                    images = d.Images,
                    scores = d.Values.ToDictionary(v => v.Name, v => Finite(v.Value)),
                    boundary_images = d.BoundaryImages,
                }),
                per_image = images.ToDictionary(p => p.Key, p => p.Value.Select(i => new
                {
                    name = i.Name, dice = i.Dice, iou = i.IoU, wfm = i.WeightedF, sm = i.SMeasure, em_adaptive = i.EMeasureAdaptive,
                    em_max = i.EMeasureMax, em_mean = i.EMeasureMean, mae = i.Mae, f_adaptive = i.AdaptiveF, ber = Finite(i.Ber),
                    acc = i.Accuracy, hd95 = Finite(i.Hd95), asd = Finite(i.Asd),
                })),
                notes,
            }, new JsonSerializerOptions { WriteIndented = true }));
            csv = Path.Combine(outputDirectory, "metrics.csv");
            var lines = new List<string> { "dataset,image,dice,iou,wfm,sm,em_adaptive,em_max,em_mean,mae,f_adaptive,ber,acc,hd95,asd" };
            foreach (var (dataset, list) in images)
            {
                lines.AddRange(list.Select(i => string.Create(CultureInfo.InvariantCulture,
                    $"{dataset},{i.Name},{i.Dice:R},{i.IoU:R},{i.WeightedF:R},{i.SMeasure:R},{i.EMeasureAdaptive:R},{i.EMeasureMax:R},{i.EMeasureMean:R},{i.Mae:R},{i.AdaptiveF:R},{i.Ber:R},{i.Accuracy:R},{i.Hd95:R},{i.Asd:R}")));
            }
            File.WriteAllLines(csv, lines);
            foreach (var (scores, pairs) in results)
            {
                var path = Path.Combine(outputDirectory, $"worst_{Sanitize(scores.Dataset)}.png");
                WorstCases(path, scores, pairs, worstCases, predictionFor, predictionsAreImages);
                pictures.Add(path);
            }
        }
        return new EvaluationReport(datasets, images, json, csv, pictures, notes);
    }

    /// <summary>One row per worst image by Dice: the image, the mask, the prediction, and both outlined on the image.</summary>
    private static void WorstCases(string path, MetricAccumulator scores, List<SamplePair> pairs, int count,
        Func<SamplePair, int, float[]> predictionFor, bool predictionsAreImages)
    {
        var worst = scores.Images.Select((s, i) => (s, i)).OrderBy(p => p.s.Dice).Take(Math.Max(1, count)).ToList();
        using var grid = new Mat(worst.Count * Cell, 4 * Cell, MatType.CV_8UC3);
        grid.SetTo(new Scalar(255, 255, 255));
        for (var row = 0; row < worst.Count; row++)
        {
            var pair = pairs[worst[row].i];
            using var mask = Cv2.ImRead(pair.MaskPath, ImreadModes.Grayscale);
            using var image = predictionsAreImages ? new Mat(mask.Rows, mask.Cols, MatType.CV_8UC3) : Cv2.ImRead(pair.ImagePath, ImreadModes.Color);
            var probability = predictionFor(pair, worst[row].i);
            using var prediction = new Mat(mask.Rows, mask.Cols, MatType.CV_8UC1);
            var px = prediction.AsSpan<byte>();
            for (var i = 0; i < px.Length; i++) px[i] = (byte)Math.Clamp(probability[i] * 255, 0, 255);
            using var binaryPrediction = new Mat();
            using var binaryMask = new Mat();
            Cv2.Threshold(prediction, binaryPrediction, 127, 255, ThresholdTypes.Binary);
            Cv2.Threshold(mask, binaryMask, 127, 255, ThresholdTypes.Binary);
            using var overlay = image.Clone();
            Cv2.DrawMaskContours(overlay, binaryMask, new Scalar(60, 200, 60), 2);
            Cv2.DrawMaskContours(overlay, binaryPrediction, new Scalar(40, 40, 230), 2);
            Place(grid, image, row, 0);
            Place(grid, mask, row, 1);
            Place(grid, prediction, row, 2);
            Place(grid, overlay, row, 3);
            var label = string.Create(CultureInfo.InvariantCulture, $"{pair.Name}  Dice {worst[row].s.Dice:F3}");
            Cv2.PutText(grid, label, new Point(6, row * Cell + 16), HersheyFonts.Simplex, 0.45, new Scalar(255, 255, 255), 2);
            Cv2.PutText(grid, label, new Point(6, row * Cell + 16), HersheyFonts.Simplex, 0.45, new Scalar(20, 20, 20), 1);
        }
        Cv2.ImWrite(path, grid);
    }

    private static void Place(Mat grid, Mat source, int row, int column)
    {
        using var color = new Mat();
        using var cell = new Mat();
        if (source.Channels == 1) Cv2.CvtColor(source, color, ColorConversionCodes.GRAY2BGR);
        else source.CopyTo(color);
        Cv2.Resize(color, cell, new Size(Cell - 4, Cell - 4), InterpolationFlags.Area);
        var g = grid.AsSpan<byte>();
        var c = cell.AsSpan<byte>();
        var gridWidth = grid.Cols;
        for (var y = 0; y < Cell - 4; y++)
        {
            c.Slice(y * (Cell - 4) * 3, (Cell - 4) * 3).CopyTo(g.Slice(((row * Cell + 2 + y) * gridWidth + column * Cell + 2) * 3));
        }
    }

    private static float[] PredictionFor(IPredictor predictor, SamplePair pair)
    {
        using var image = Cv2.ImRead(pair.ImagePath, ImreadModes.Color);
        return predictor.Predict(image);
    }

    private static float[] ToFloat(Mat gray)
    {
        var px = gray.AsSpan<byte>();
        var values = new float[px.Length];
        for (var i = 0; i < px.Length; i++) values[i] = px[i];
        return values;
    }

    private static double? Finite(double v) => double.IsFinite(v) ? v : null;

    private static string Sanitize(string name) => string.Concat(name.Select(c => char.IsLetterOrDigit(c) || c is '-' or '_' ? c : '_'));
}
