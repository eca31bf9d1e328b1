using System.Device.Gpio;
using M2SNet.Edge.Daemon.Configuration;
using M2SNet.Edge.Daemon.Observability;
using M2SNet.Edge.Daemon.Pipeline;
using M2SNet.Edge.Gpio;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace M2SNet.Edge.Daemon.Appliance;

/// <summary>What the status LEDs show.</summary>
public readonly record struct LedStates(bool Ready, bool Inferencing, bool Fault);

/// <summary>
/// The hardware the clinician touches and sees, over GPIO (pin map in firmware-config/gpio.json):
/// a foot pedal (a press toggles the overlay; held past the long-press time it freezes or
/// unfreezes the picture, at once, without waiting for the release) and three LEDs: ready (model
/// warm and frames coming), inferencing (frames segmented within the last half second), fault
/// (model failed, source lost, or a stage failed). Without a GPIO chip the daemon runs on without
/// them and says so in the log.
/// </summary>
public sealed class OperatorPanel(
    IOptions<DaemonOptions> options,
    ActivePipeline active,
    DaemonState state,
    PipelineMetrics metrics,
    ILogger<OperatorPanel> log) : BackgroundService
{
    private readonly GpioOptions _pins = options.Value.Gpio;
    private readonly Lock _pedalGate = new();
    private GpioController? _controller;
    private DebouncedInput? _pedal;
    private long _pressGeneration;
    private bool _pressed;
    private bool _longPressDone;

    /// <summary>The driver in use; a test drives a <see cref="SimulatedGpioDriver"/> through it.</summary>
    public GpioDriver? Driver { get; private set; }

    /// <summary>Completes once the pins are set up (or the panel gave up: no GPIO).</summary>
    public Task Started => _started.Task;

    private readonly TaskCompletionSource _started = new(TaskCreationOptions.RunContinuationsAsynchronously);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!_pins.Enabled)
        {
            _started.TrySetResult();
            return;
        }
        var chip = _pins.Driver == "simulated" ? "a simulated chip" : _pins.Chip;
        try
        {
            Driver = _pins.Driver == "simulated" ? new SimulatedGpioDriver() : GpioChip.Open(_pins.Chip);
            _controller = new GpioController(Driver);
            var leds = new[] { _pins.ReadyLedPin, _pins.InferencingLedPin, _pins.FaultLedPin };
            CheckOnChip(_controller, chip, [_pins.PedalPin, .. leds]);
            _controller.OpenPin(_pins.PedalPin, _pins.PedalActiveLow ? PinMode.InputPullUp : PinMode.InputPullDown);
            _pedal = new DebouncedInput(_controller, _pins.PedalPin, TimeSpan.FromMilliseconds(_pins.DebounceMilliseconds), OnPedal);
            foreach (var pin in leds) _controller.OpenPin(pin, PinMode.Output, PinValue.Low);
            log.LogInformation("GPIO on {Chip} ({Driver}): pedal on line {Pedal}, LEDs ready {Ready}, inferencing {Inferencing}, fault {Fault}",
                chip, Driver.GetType().Name, _pins.PedalPin, _pins.ReadyLedPin, _pins.InferencingLedPin, _pins.FaultLedPin);
        }
        // IOException: GpioChip's refusals (no chip, no libgpiod) and the drivers' (a line the chip would not give).
        catch (Exception e) when (e is IOException or InvalidOperationException or ArgumentOutOfRangeException)
        {
            log.LogError("GPIO is not available ({Reason}); running without the foot pedal and status LEDs", e.Message);
            _pedal?.Dispose();
            _pedal = null;
            _controller?.Dispose();
            _controller = null;
            Driver = null;
            _started.TrySetResult();
            return;
        }
        _started.TrySetResult();

        LedStates? shown = null;
        long lastFrames = -1;
        var lastProgress = DateTime.MinValue;
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(100));
        do
        {
            var frames = metrics.FramesSegmented;
            if (frames != lastFrames)
            {
                lastFrames = frames;
                lastProgress = DateTime.UtcNow;
            }
            var leds = Leds(state, metrics.Failure, frames > 0 && DateTime.UtcNow - lastProgress < TimeSpan.FromMilliseconds(500));
            if (leds != shown)
            {
                Show(leds);
                shown = leds;
            }
        }
        while (await WaitForTick(timer, stoppingToken).ConfigureAwait(false));
    }

    /// <summary>The LEDs for a daemon state: fault wins over ready; inferencing follows the frames.</summary>
    public static LedStates Leds(DaemonState state, string? stageFailure, bool framesFlowing)
    {
        var fault = state.Readiness == Readiness.Failed || stageFailure is not null || state.SourceState is "lost" or "failed";
        var ready = !fault && state.Readiness == Readiness.Ready;
        return new LedStates(ready, ready && framesFlowing, fault);
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        if (_controller is null) return;
        // The pedal first: once it is gone no press can arrive while the controller releases the lines.
        _pedal?.Dispose();
        try
        {
            Show(new LedStates(false, false, false));
        }
        catch (Exception e) when (e is IOException or InvalidOperationException)
        {
            log.LogWarning("Could not switch the LEDs off: {Reason}", e.Message);
        }
        _controller.Dispose();
    }

    /// <summary>
    /// The package's controller passes pin numbers to the driver unchecked, and libgpiod's v1 driver
    /// would request a line the chip does not have; so a pin map that does not fit the chip stops here.
    /// </summary>
    private static void CheckOnChip(GpioController controller, string chip, int[] pins)
    {
        var lines = controller.PinCount;
        foreach (var pin in pins)
        {
            if ((uint)pin >= (uint)lines)
            {
                throw new GpioException($"line {pin} is not on {chip} (it has lines 0 to {lines - 1}); check the pin map");
            }
        }
    }

    private void Show(LedStates leds)
    {
        _controller!.Write(_pins.ReadyLedPin, leds.Ready);
        _controller.Write(_pins.InferencingLedPin, leds.Inferencing);
        _controller.Write(_pins.FaultLedPin, leds.Fault);
    }

    private void OnPedal(object sender, PinValueChangedEventArgs e)
    {
        var pressed = (e.ChangeType == PinEventTypes.Falling) == _pins.PedalActiveLow;
        lock (_pedalGate)
        {
            if (pressed == _pressed) return;
            _pressed = pressed;
            if (pressed)
            {
                _longPressDone = false;
                var generation = ++_pressGeneration;
                _ = Task.Delay(_pins.LongPressMilliseconds).ContinueWith(_ => OnHeld(generation), TaskScheduler.Default);
                return;
            }
            if (_longPressDone) return;
        }
        active.OverlayEnabled = !active.OverlayEnabled;
        log.LogInformation("Foot pedal: overlay {State}", active.OverlayEnabled ? "on" : "off");
    }

    private void OnHeld(long generation)
    {
        lock (_pedalGate)
        {
            if (!_pressed || generation != _pressGeneration) return;
            _longPressDone = true;
        }
        active.Frozen = !active.Frozen;
        log.LogInformation("Foot pedal held: picture {State}", active.Frozen ? "frozen" : "live");
    }

    private static async Task<bool> WaitForTick(PeriodicTimer timer, CancellationToken stop)
    {
        try
        {
            return await timer.WaitForNextTickAsync(stop).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }
}
