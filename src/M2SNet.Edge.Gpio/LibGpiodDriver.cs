using System.Runtime.InteropServices;
using M2SNet.Edge.Gpio.Native;

namespace M2SNet.Edge.Gpio;

/// <summary>
/// A GPIO chip through libgpiod's v1.6 C API (libgpiod.so.2; build/bootstrap.sh gpiod installs it).
/// One background thread waits for edges on every line with callbacks; it waits in short slices so
/// that requests and <see cref="GpioDriver.Dispose()"/> get their turn, and it calls the callbacks
/// holding no lock of this driver's.
/// </summary>
public sealed unsafe class LibGpiodDriver : GpioDriver
{
    public const string DefaultChipPath = "/dev/gpiochip0";
    public const string DefaultConsumer = "m2snet-edge";

    /// <summary>Longest wait for edges before the event thread lets a request, a release or Dispose in.</summary>
    private static readonly TimeSpan WaitSlice = TimeSpan.FromMilliseconds(20);

    // Read/Write and the event thread's wait share the lines (read lock); a request, a release or
    // Dispose changes them (write lock). Waiting writers hold off new readers, so the event thread
    // steps aside within one slice.
    private readonly ReaderWriterLockSlim _access = new();
    private readonly Dictionary<int, RequestedLine> _lines = [];
    private readonly ChipHandle _chip;
    private Thread? _eventThread;
    private volatile bool _stopping;

    /// <param name="chipPath">The chip's character device.</param>
    /// <param name="consumer">The label other tools (gpioinfo) show as the owner of our lines.</param>
    public LibGpiodDriver(string chipPath = DefaultChipPath, string consumer = DefaultConsumer)
    {
        ArgumentException.ThrowIfNullOrEmpty(chipPath);
        ArgumentNullException.ThrowIfNull(consumer);
        ChipPath = chipPath;
        Consumer = consumer;
        try
        {
            _chip = LibGpiod.gpiod_chip_open(chipPath);
        }
        catch (DllNotFoundException e)
        {
            throw LibraryMissing(e);
        }
        if (_chip.IsInvalid)
        {
            var errno = Marshal.GetLastPInvokeError();
            _chip.Dispose();
            throw GpioException.FromErrno(
                errno == LibGpiod.ENOENT ? $"GPIO chip {chipPath} not found" : $"GPIO chip {chipPath} could not be opened", errno);
        }
        PinCount = checked((int)LibGpiod.gpiod_chip_num_lines(_chip));
    }

    /// <summary>The version libgpiod.so.2 reports ("1.6.3" on Debian 12).</summary>
    public static string LibraryVersion
    {
        get
        {
            try
            {
                return Marshal.PtrToStringUTF8(LibGpiod.gpiod_version_string()) ?? "";
            }
            catch (DllNotFoundException e)
            {
                throw LibraryMissing(e);
            }
        }
    }

    public string ChipPath { get; }

    public string Consumer { get; }

    public override int PinCount { get; }

    protected override void OpenPinCore(int pin, PinMode mode)
    {
        _access.EnterWriteLock();
        try
        {
            if (_lines.TryGetValue(pin, out var requested))
            {
                throw new GpioException($"GPIO chip {ChipPath} line {pin} is already requested (as {requested.Mode})");
            }
            var line = LibGpiod.gpiod_chip_get_line(_chip, (uint)pin);
            if (line == 0) throw GpioException.FromErrno($"GPIO chip {ChipPath} line {pin} could not be looked up", Marshal.GetLastPInvokeError());
            Request(line, pin, mode, edges: false);
            _lines[pin] = new RequestedLine(line, mode);
        }
        finally
        {
            _access.ExitWriteLock();
        }
    }

    protected override void ClosePinCore(int pin)
    {
        _access.EnterWriteLock();
        try
        {
            if (_lines.Remove(pin, out var requested)) LibGpiod.gpiod_line_release(requested.Line);
        }
        finally
        {
            _access.ExitWriteLock();
        }
    }

    protected override PinValue ReadCore(int pin)
    {
        _access.EnterReadLock();
        try
        {
            var requested = Requested(pin);
            if (requested.Fault is { } fault) throw fault;
            var value = LibGpiod.gpiod_line_get_value(requested.Line);
            if (value < 0) throw GpioException.FromErrno($"GPIO chip {ChipPath} line {pin} could not be read", Marshal.GetLastPInvokeError());
            return value != 0;
        }
        finally
        {
            _access.ExitReadLock();
        }
    }

    protected override void WriteCore(int pin, PinValue value)
    {
        _access.EnterReadLock();
        try
        {
            var requested = Requested(pin);
            if (LibGpiod.gpiod_line_set_value(requested.Line, (bool)value ? 1 : 0) < 0)
            {
                throw GpioException.FromErrno($"GPIO chip {ChipPath} line {pin} could not be set {value}", Marshal.GetLastPInvokeError());
            }
        }
        finally
        {
            _access.ExitReadLock();
        }
    }

    /// <summary>libgpiod v1 cannot add edge detection to a requested line, so the input is released and requested again with events.</summary>
    protected override void StartEdgeEvents(int pin)
    {
        _access.EnterWriteLock();
        try
        {
            var requested = Requested(pin);
            if (requested.Mode == PinMode.Output)
            {
                throw new GpioException($"GPIO chip {ChipPath} line {pin} is an output; it has no edges to report");
            }
            if (requested.WatchesEdges) return;
            if (_lines.Values.Count(l => l.WatchesEdges) >= LibGpiod.BulkMaxLines)
            {
                throw new GpioException($"GPIO chip {ChipPath} line {pin}: at most {LibGpiod.BulkMaxLines} lines can report edges at once");
            }
            LibGpiod.gpiod_line_release(requested.Line);
            try
            {
                Request(requested.Line, pin, requested.Mode, edges: true);
            }
            catch
            {
                // Leave the pin readable as before; the request error is the one worth reporting.
                _ = RequestRaw(requested.Line, requested.Mode, edges: false);
                throw;
            }
            requested.WatchesEdges = true;
            requested.Fault = null;
            if (_eventThread is null)
            {
                _eventThread = new Thread(WatchEdges) { IsBackground = true, Name = $"gpio edges {ChipPath}" };
                _eventThread.Start();
            }
        }
        finally
        {
            _access.ExitWriteLock();
        }
    }

    protected override void StopEdgeEvents(int pin)
    {
        _access.EnterWriteLock();
        try
        {
            if (!_lines.TryGetValue(pin, out var requested) || !requested.WatchesEdges) return;
            LibGpiod.gpiod_line_release(requested.Line);
            requested.WatchesEdges = false;
            requested.Fault = null;
            Request(requested.Line, pin, requested.Mode, edges: false);
        }
        finally
        {
            _access.ExitWriteLock();
        }
    }

    /// <summary>Stops the event thread, releases every line and closes the chip.</summary>
    protected override void Dispose(bool disposing)
    {
        if (!disposing) return;
        _stopping = true;
        // A callback may dispose the driver from the event thread itself; that thread leaves its loop
        // as soon as the callback returns, so only another thread has to wait for it.
        var eventThread = _eventThread;
        if (eventThread is not null && eventThread != Thread.CurrentThread) eventThread.Join();
        _access.EnterWriteLock();
        try
        {
            foreach (var requested in _lines.Values) LibGpiod.gpiod_line_release(requested.Line);
            _lines.Clear();
            _chip.Dispose();
        }
        finally
        {
            _access.ExitWriteLock();
        }
        _access.Dispose();
    }

    private static GpioException LibraryMissing(DllNotFoundException e) =>
        new($"{LibGpiod.Library} is not installed (apt-get install libgpiod2)", innerException: e);

    private static int BiasFlags(PinMode mode) => mode switch
    {
        PinMode.InputPullUp => LibGpiod.RequestFlagBiasPullUp,
        PinMode.InputPullDown => LibGpiod.RequestFlagBiasPullDown,
        _ => 0,
    };

    private void Request(nint line, int pin, PinMode mode, bool edges)
    {
        if (RequestRaw(line, mode, edges) < 0)
        {
            var what = edges ? $"{mode} with edge events" : mode.ToString();
            throw GpioException.FromErrno($"GPIO chip {ChipPath} line {pin} could not be requested as {what}", Marshal.GetLastPInvokeError());
        }
    }

    /// <summary>An output starts low, as <see cref="PinMode.Output"/> promises.</summary>
    private int RequestRaw(nint line, PinMode mode, bool edges) => mode switch
    {
        PinMode.Output => LibGpiod.gpiod_line_request_output(line, Consumer, 0),
        _ when edges => LibGpiod.gpiod_line_request_both_edges_events_flags(line, Consumer, BiasFlags(mode)),
        _ => LibGpiod.gpiod_line_request_input_flags(line, Consumer, BiasFlags(mode)),
    };

    private RequestedLine Requested(int pin) =>
        _lines.TryGetValue(pin, out var requested) ? requested : throw new GpioException($"GPIO chip {ChipPath} line {pin} is not requested");

    private void WatchEdges()
    {
        var edges = new List<(int Pin, PinEventTypes Edge)>();
        while (!_stopping)
        {
            bool waited;
            _access.EnterReadLock();
            try
            {
                waited = !_stopping && WaitForEdges(edges);
            }
            finally
            {
                _access.ExitReadLock();
            }
            foreach (var (pin, edge) in edges) OnPinValueChanged(pin, edge);
            edges.Clear();
            // No line to watch, or the wait itself failed: idle a slice rather than spin.
            if (!waited) Thread.Sleep(WaitSlice);
        }
    }

    /// <summary>
    /// Waits up to one slice for edges on the watched lines and reads one queued event from each line
    /// that has one (the next wait returns at once if more are queued). False if it could not wait.
    /// </summary>
    private bool WaitForEdges(List<(int Pin, PinEventTypes Edge)> edges)
    {
        LibGpiod.LineBulk watched = default;
        Span<int> pins = stackalloc int[LibGpiod.BulkMaxLines];
        var count = 0;
        foreach (var (pin, requested) in _lines)
        {
            if (!requested.WatchesEdges || requested.Fault is not null) continue;
            watched.Lines[count] = requested.Line;
            pins[count++] = pin;
        }
        if (count == 0) return false;
        watched.NumLines = (uint)count;

        var timeout = new LibGpiod.Timespec { Nanoseconds = (nint)(WaitSlice.Ticks * TimeSpan.NanosecondsPerTick) };
        LibGpiod.LineBulk ready = default;
        var rc = LibGpiod.gpiod_line_event_wait_bulk(&watched, &timeout, &ready);
        if (rc < 0) return false;
        for (var i = 0; i < (int)ready.NumLines; i++)
        {
            var line = ready.Lines[i];
            var index = ((ReadOnlySpan<nint>)watched.Lines)[..count].IndexOf(line);
            if (index < 0) continue;
            var pin = pins[index];
            LibGpiod.LineEvent lineEvent;
            if (LibGpiod.gpiod_line_event_read(line, &lineEvent) < 0)
            {
                // Stop watching a line that fails (unplugged expander, say) so it cannot spin this
                // thread; the next Read of the pin reports why.
                _lines[pin].Fault = GpioException.FromErrno(
                    $"GPIO chip {ChipPath} line {pin} stopped reporting edges", Marshal.GetLastPInvokeError());
                continue;
            }
            switch (lineEvent.EventType)
            {
                case LibGpiod.EventRisingEdge: edges.Add((pin, PinEventTypes.Rising)); break;
                case LibGpiod.EventFallingEdge: edges.Add((pin, PinEventTypes.Falling)); break;
            }
        }
        return true;
    }

    /// <summary>A line this driver holds. The chip owns the pointer; the driver owns the request.</summary>
    private sealed class RequestedLine(nint line, PinMode mode)
    {
        public nint Line { get; } = line;

        public PinMode Mode { get; } = mode;

        public bool WatchesEdges { get; set; }

        /// <summary>Set by the event thread when reading events from the line failed.</summary>
        public GpioException? Fault { get; set; }
    }
}
