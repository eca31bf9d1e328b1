using M2SNet.Edge.Synthetic;

namespace M2SNet.Edge.Video.Tests;

/// <summary>Test videos written once per run with our own writer: 1080p and PAL, 30 fps, a moving polyp.</summary>
public sealed class Videos : IDisposable
{
    public Videos()
    {
        Directory = System.IO.Directory.CreateTempSubdirectory("m2s-video-");
        FullHd = Path.Combine(Directory.FullName, "fullhd.mp4");
        Pal = Path.Combine(Directory.FullName, "pal.mp4");
        SampleVideo.Write(FullHd, seed: 1, seconds: 1, fps: 30, width: 1920, height: 1080);
        SampleVideo.Write(Pal, seed: 2, seconds: 3, fps: 30, width: 720, height: 576);
    }

    public DirectoryInfo Directory { get; }

    public string FullHd { get; }

    /// <summary>3 s at 30 fps: 90 frames.</summary>
    public string Pal { get; }

    public void Dispose() => Directory.Delete(recursive: true);
}
