using System.CommandLine;
using M2SNet.Edge.Synthetic;

namespace M2SNet.Edge.Cli;

/// <summary><c>m2s synth</c>: synthetic colonoscopy frames with exact masks, in the Kvasir-SEG layout.</summary>
internal static class SynthCommand
{
    public static Command Create()
    {
        var output = new Option<DirectoryInfo>("--out") { Description = "folder to write images/ and masks/ into", Required = true };
        var count = new Option<int>("--count") { Description = "number of image/mask pairs", DefaultValueFactory = _ => 100 };
        var seed = new Option<int>("--seed") { Description = "first scene's seed (pair i uses seed + i)", DefaultValueFactory = _ => 1 };
        var size = new Option<int>("--size") { Description = "image width and height in pixels", DefaultValueFactory = _ => 352 };
        var maxPolyps = new Option<int>("--max-polyps") { Description = "polyps per image, 1 to this", DefaultValueFactory = _ => 2 };
        var format = new Option<string>("--format") { Description = "image format: png or jpg (masks are always png)", DefaultValueFactory = _ => "png" };
        var command = new Command("synth", "Write synthetic colonoscopy-like frames (mucosa, vessels, highlights, polyps, blur, noise) with exact masks.")
        {
            output, count, seed, size, maxPolyps, format,
        };
        command.SetAction(parse => CliErrors.Guard(() =>
        {
            var n = parse.GetValue(count);
            var s = parse.GetValue(size);
            if (n < 1) throw new CliException("--count must be at least 1");
            if (s < 32) throw new CliException("--size must be at least 32");
            if (parse.GetValue(maxPolyps) < 1) throw new CliException("--max-polyps must be at least 1");
            var dir = parse.GetValue(output)!.FullName;
            var options = new SyntheticOptions(s, s, MaxPolyps: parse.GetValue(maxPolyps));
            var last = -1;
            SyntheticDataset.Write(dir, n, parse.GetValue(seed), options, parse.GetValue(format)!, new SyncProgress<int>(i =>
            {
                var percent = i * 100 / n;
                if (percent / 10 == last / 10 && i != n) return;
                last = percent;
                Console.Error.WriteLine($"  {i}/{n} ({percent}%)");
            }));
            Console.WriteLine($"wrote {n} synthetic image/mask pairs to {dir}");
            return 0;
        }));
        return command;
    }
}
