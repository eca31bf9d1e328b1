using System.Runtime.InteropServices;

namespace M2SNet.Edge.Daemon.Models;

/// <summary>
/// Writes that survive a power cut at any moment: a file is replaced by writing a temporary
/// file, flushing it to disk, renaming it over the old one and flushing the folder, so a reader
/// sees the old or the new content, never a mix.
/// </summary>
internal static class DurableFile
{
    public static void WriteAllText(string path, string text)
    {
        var temporary = path + ".tmp";
        using (var stream = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            stream.Write(System.Text.Encoding.UTF8.GetBytes(text));
            stream.Flush(flushToDisk: true);
        }
        File.Move(temporary, path, overwrite: true);
        FlushDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
    }

    /// <summary>Makes renames and new entries in <paramref name="directory"/> durable (fsync on the folder).</summary>
    public static void FlushDirectory(string directory)
    {
        if (!OperatingSystem.IsLinux()) return;
        var fd = Open(directory, ReadOnlyDirectory);
        if (fd < 0) return;
        try
        {
            _ = Fsync(fd);
        }
        finally
        {
            _ = Close(fd);
        }
    }

    // O_RDONLY | O_DIRECTORY on Linux.
    private const int ReadOnlyDirectory = 0x10000;

    // DllImport rather than LibraryImport: this project is not compiled with unsafe code, and these need no marshalling beyond a UTF-8 path.
    [DllImport("libc", EntryPoint = "open", CharSet = CharSet.Ansi, BestFitMapping = false, ThrowOnUnmappableChar = true)]
    private static extern int Open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);

    [DllImport("libc", EntryPoint = "fsync")]
    private static extern int Fsync(int fd);

    [DllImport("libc", EntryPoint = "close")]
    private static extern int Close(int fd);
}
