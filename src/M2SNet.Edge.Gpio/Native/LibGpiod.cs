using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace M2SNet.Edge.Gpio.Native;

/// <summary>
/// Entry points of libgpiod's v1.6 C API (gpiod.h of Debian 12's libgpiod-dev 1.6.3). Functions that
/// fail return NULL or -1 and leave errno, hence SetLastError on every one that can fail.
/// </summary>
internal static unsafe partial class LibGpiod
{
    public const string Library = "libgpiod.so.2";

    /// <summary>errno for a path that does not exist.</summary>
    public const int ENOENT = 2;

    // GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_DOWN / _PULL_UP = GPIOD_BIT(4) / GPIOD_BIT(5).
    public const int RequestFlagBiasPullDown = 1 << 4;
    public const int RequestFlagBiasPullUp = 1 << 5;

    // GPIOD_LINE_EVENT_*.
    public const int EventRisingEdge = 1;
    public const int EventFallingEdge = 2;

    /// <summary>GPIOD_LINE_BULK_MAX_LINES: the most lines one wait can watch.</summary>
    public const int BulkMaxLines = 64;

    /// <summary>struct timespec: time_t and long are both pointer-sized on Debian 12's Linux ABIs.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct Timespec
    {
        public nint Seconds;
        public nint Nanoseconds;
    }

    /// <summary>struct gpiod_line_event { struct timespec ts; int event_type; }.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct LineEvent
    {
        public Timespec Timestamp;
        public int EventType;
    }

    /// <summary>struct gpiod_line_bulk { struct gpiod_line *lines[64]; unsigned int num_lines; }.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct LineBulk
    {
        public LinePointers Lines;
        public uint NumLines;
    }

    [InlineArray(BulkMaxLines)]
    public struct LinePointers
    {
        private nint _line;
    }

    [LibraryImport(Library, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial ChipHandle gpiod_chip_open(string path);

    [LibraryImport(Library)]
    public static partial void gpiod_chip_close(nint chip);

    [LibraryImport(Library)]
    public static partial uint gpiod_chip_num_lines(ChipHandle chip);

    /// <summary>The line belongs to the chip: valid until gpiod_chip_close, never freed on its own.</summary>
    [LibraryImport(Library, SetLastError = true)]
    public static partial nint gpiod_chip_get_line(ChipHandle chip, uint offset);

    [LibraryImport(Library, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int gpiod_line_request_input_flags(nint line, string consumer, int flags);

    [LibraryImport(Library, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int gpiod_line_request_output(nint line, string consumer, int defaultValue);

    [LibraryImport(Library, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int gpiod_line_request_both_edges_events_flags(nint line, string consumer, int flags);

    [LibraryImport(Library)]
    public static partial void gpiod_line_release(nint line);

    [LibraryImport(Library, SetLastError = true)]
    public static partial int gpiod_line_get_value(nint line);

    [LibraryImport(Library, SetLastError = true)]
    public static partial int gpiod_line_set_value(nint line, int value);

    /// <summary>0 on timeout, 1 when <paramref name="eventBulk"/> holds the lines with an event queued, -1 on error.</summary>
    [LibraryImport(Library, SetLastError = true)]
    public static partial int gpiod_line_event_wait_bulk(LineBulk* bulk, Timespec* timeout, LineBulk* eventBulk);

    /// <summary>Blocks until an event is queued; call it only for a line the wait reported.</summary>
    [LibraryImport(Library, SetLastError = true)]
    public static partial int gpiod_line_event_read(nint line, LineEvent* lineEvent);

    [LibraryImport(Library)]
    public static partial nint gpiod_version_string();
}

/// <summary>An open struct gpiod_chip; closing it also releases every line requested through it.</summary>
internal sealed class ChipHandle : SafeHandle
{
    public ChipHandle() : base(0, ownsHandle: true)
    {
    }

    public override bool IsInvalid => handle == 0;

    protected override bool ReleaseHandle()
    {
        LibGpiod.gpiod_chip_close(handle);
        return true;
    }
}
