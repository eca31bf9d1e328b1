using System.Globalization;
using M2SNet.Edge.OpenCv;

namespace M2SNet.Edge.Charts;

/// <summary>One line of a chart.</summary>
public sealed record Series(string Name, IReadOnlyList<(double X, double Y)> Points, Scalar Color, bool Dots = false);

/// <summary>A panel of one or more series sharing axes.</summary>
public sealed record Panel(string Title, string XLabel, string YLabel, IReadOnlyList<Series> Series, double? YMin = null, double? YMax = null);

/// <summary>
/// Line charts on a white canvas: each panel gets axes with rounded ticks, a title and a legend;
/// several panels stack side by side. Output is a PNG.
/// </summary>
public static class LineChart
{
    public static readonly Scalar Blue = new(180, 100, 30);
    public static readonly Scalar Orange = new(20, 130, 240);
    public static readonly Scalar Green = new(60, 160, 60);
    public static readonly Scalar Red = new(40, 40, 210);
    public static readonly Scalar Purple = new(160, 80, 140);
    public static readonly Scalar Gray = new(120, 120, 120);

    private const int PanelWidth = 520;
    private const int PanelHeight = 360;
    private const int Left = 70, Right = 20, Top = 40, Bottom = 50;

    public static void Save(string path, IReadOnlyList<Panel> panels)
    {
        using var image = Render(panels);
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir is not null) Directory.CreateDirectory(dir);
        Cv2.ImWrite(path, image);
    }

    public static Mat Render(IReadOnlyList<Panel> panels)
    {
        if (panels.Count == 0) throw new ArgumentException("a chart needs at least one panel", nameof(panels));
        var image = new Mat(PanelHeight, PanelWidth * panels.Count, MatType.CV_8UC3);
        image.SetTo(new Scalar(255, 255, 255));
        for (var i = 0; i < panels.Count; i++) DrawPanel(image, panels[i], i * PanelWidth);
        return image;
    }

    private static void DrawPanel(Mat image, Panel panel, int x0)
    {
        var points = panel.Series.SelectMany(s => s.Points).Where(p => double.IsFinite(p.X) && double.IsFinite(p.Y)).ToList();
        double xmin = points.Count > 0 ? points.Min(p => p.X) : 0, xmax = points.Count > 0 ? points.Max(p => p.X) : 1;
        double ymin = panel.YMin ?? (points.Count > 0 ? points.Min(p => p.Y) : 0), ymax = panel.YMax ?? (points.Count > 0 ? points.Max(p => p.Y) : 1);
        if (xmax <= xmin) xmax = xmin + 1;
        if (ymax <= ymin) ymax = ymin + Math.Max(1e-9, Math.Abs(ymin) * 0.1 + 1e-9);
        var yPad = (ymax - ymin) * 0.05;
        if (panel.YMin is null) ymin -= yPad;
        if (panel.YMax is null) ymax += yPad;

        int plotW = PanelWidth - Left - Right, plotH = PanelHeight - Top - Bottom;
        int Px(double x) => x0 + Left + (int)Math.Round((x - xmin) / (xmax - xmin) * plotW);
        int Py(double y) => Top + plotH - (int)Math.Round((Math.Clamp(y, ymin, ymax) - ymin) / (ymax - ymin) * plotH);

        var black = new Scalar(30, 30, 30);
        var grid = new Scalar(225, 225, 225);
        foreach (var t in Ticks(ymin, ymax))
        {
            Cv2.Line(image, new Point(x0 + Left, Py(t)), new Point(x0 + Left + plotW, Py(t)), grid);
            Text(image, Format(t), new Point(x0 + 6, Py(t) + 4), 0.4, black);
        }
        var integralX = points.Count > 0 && points.All(p => p.X == Math.Floor(p.X));
        foreach (var t in Ticks(xmin, xmax, integralX ? 1 : 0))
        {
            Cv2.Line(image, new Point(Px(t), Top), new Point(Px(t), Top + plotH), grid);
            Text(image, Format(t), new Point(Px(t) - 10, Top + plotH + 16), 0.4, black);
        }
        Cv2.Rectangle(image, new Point(x0 + Left, Top), new Size(plotW, plotH), black);
        Text(image, panel.Title, new Point(x0 + Left, 24), 0.55, black);
        Text(image, panel.XLabel, new Point(x0 + Left + plotW / 2 - 30, PanelHeight - 12), 0.45, black);
        Text(image, panel.YLabel, new Point(x0 + 6, Top - 8), 0.4, black);

        foreach (var s in panel.Series)
        {
            var ps = s.Points.Where(p => double.IsFinite(p.X) && double.IsFinite(p.Y)).Select(p => new Point(Px(p.X), Py(p.Y))).ToArray();
            if (s.Dots)
            {
                foreach (var p in ps) Cv2.Circle(image, p, 2, s.Color, -1, LineTypes.AntiAlias);
            }
            else if (ps.Length > 1)
            {
                Cv2.Polylines(image, ps, false, s.Color, 2, LineTypes.AntiAlias);
            }
            else if (ps.Length == 1)
            {
                Cv2.Circle(image, ps[0], 3, s.Color, -1, LineTypes.AntiAlias);
            }
        }

        // The legend on a white box over the lines, top right.
        var textWidth = panel.Series.Max(s => Cv2.GetTextSize(s.Name, HersheyFonts.Simplex, 0.4, 1, out _).Width);
        var legendLeft = x0 + Left + plotW - textWidth - 40;
        Cv2.Rectangle(image, new Point(legendLeft, Top + 3), new Size(textWidth + 36, 16 * panel.Series.Count + 4), new Scalar(255, 255, 255), -1);
        var legendY = Top + 16;
        foreach (var s in panel.Series)
        {
            Cv2.Line(image, new Point(legendLeft + 4, legendY - 4), new Point(legendLeft + 24, legendY - 4), s.Color, 2);
            Text(image, s.Name, new Point(legendLeft + 29, legendY), 0.4, black);
            legendY += 16;
        }
    }

    /// <summary>About five ticks at 1, 2 or 5 times a power of ten, no closer than <paramref name="minimumStep"/> (1 for epochs).</summary>
    public static IEnumerable<double> Ticks(double min, double max, double minimumStep = 0)
    {
        var raw = (max - min) / 5;
        var magnitude = Math.Pow(10, Math.Floor(Math.Log10(raw)));
        var step = Math.Max(minimumStep, new[] { 1.0, 2.0, 5.0, 10.0 }.Select(f => f * magnitude).First(s => s >= raw));
        for (var t = Math.Ceiling(min / step) * step; t <= max + step * 1e-9; t += step) yield return Math.Abs(t) < step * 1e-9 ? 0 : t;
    }

    private static string Format(double v) =>
        Math.Abs(v) >= 1000 || (Math.Abs(v) < 0.001 && v != 0) ? v.ToString("0.##E0", CultureInfo.InvariantCulture) : v.ToString("0.###", CultureInfo.InvariantCulture);

    private static void Text(Mat image, string text, Point at, double scale, Scalar color) =>
        Cv2.PutText(image, text, at, HersheyFonts.Simplex, scale, color, 1);
}
