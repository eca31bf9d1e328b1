using System.Device.Gpio;
using M2SNet.Edge.Daemon.Appliance;
using M2SNet.Edge.Gpio;
using Grpc.Core;
using M2SNet.Edge.Protocol.V1;
using Microsoft.Extensions.DependencyInjection;

namespace M2SNet.Edge.Daemon.Tests;

/// <summary>Foot pedal and status LEDs on a simulated GPIO chip, against the running daemon.</summary>
public sealed class OperatorPanelTests
{
    private const int Pedal = 17, ReadyLed = 22, InferencingLed = 23, FaultLed = 24;

    private static Dictionary<string, string?> Gpio(params (string Key, string? Value)[] more)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Daemon:Gpio:Enabled"] = "true",
            ["Daemon:Gpio:Driver"] = "simulated",
            ["Daemon:Gpio:DebounceMilliseconds"] = "10",
            ["Daemon:Gpio:LongPressMilliseconds"] = "700",
        };
        foreach (var (k, v) in more) settings[k] = v;
        return settings;
    }

    private static async Task<SimulatedGpioDriver> Chip(TestDaemon daemon)
    {
        var panel = daemon.App.Services.GetRequiredService<OperatorPanel>();
        await panel.Started.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
        return Assert.IsType<SimulatedGpioDriver>(panel.Driver);
    }

    [Fact]
    public async Task Short_pedal_presses_toggle_the_overlay_that_clients_see()
    {
        // A long-press threshold no loaded machine stretches a 150 ms press past.
        await using var daemon = await TestDaemon.StartAsync(Gpio(("Daemon:Gpio:LongPressMilliseconds", "10000")));
        var chip = await Chip(daemon);
        using var call = daemon.Client.StreamMasks(new StreamMasksRequest { Options = new MaskOptions { Encoding = MaskEncoding.None } }, cancellationToken: TestContext.Current.CancellationToken);
        Assert.True(await NextAsync(call, m => m.OverlayEnabled));

        await Press(chip, TimeSpan.FromMilliseconds(150));
        Assert.True(await NextAsync(call, m => !m.OverlayEnabled), "the overlay did not turn off");
        await Press(chip, TimeSpan.FromMilliseconds(150));
        Assert.True(await NextAsync(call, m => m.OverlayEnabled), "the overlay did not turn on again");
    }

    [Fact]
    public async Task Long_press_freezes_while_held_and_leaves_the_overlay_alone()
    {
        await using var daemon = await TestDaemon.StartAsync(Gpio());
        var chip = await Chip(daemon);
        using var call = daemon.Client.StreamMasks(new StreamMasksRequest { Options = new MaskOptions { Encoding = MaskEncoding.None } }, cancellationToken: TestContext.Current.CancellationToken);
        Assert.True(await NextAsync(call, m => !m.Frozen));

        chip.SetInputValue(Pedal, PinValue.Low);
        Assert.True(await NextAsync(call, m => m.Frozen), "holding the pedal did not freeze the picture");
        chip.SetInputValue(Pedal, PinValue.High);
        await Task.Delay(300, TestContext.Current.CancellationToken);
        Assert.True(await NextAsync(call, m => m.Frozen && m.OverlayEnabled), "releasing after a long press changed the picture");

        await Press(chip, TimeSpan.FromMilliseconds(1000));
        Assert.True(await NextAsync(call, m => !m.Frozen && m.OverlayEnabled), "a second long press did not unfreeze");
    }

    [Fact]
    public async Task Pedal_bounce_shorter_than_the_debounce_time_does_nothing()
    {
        await using var daemon = await TestDaemon.StartAsync(Gpio(("Daemon:Gpio:DebounceMilliseconds", "200")));
        var chip = await Chip(daemon);
        for (var i = 0; i < 5; i++)
        {
            chip.SetInputValue(Pedal, PinValue.Low);
            chip.SetInputValue(Pedal, PinValue.High);
        }
        await Task.Delay(600, TestContext.Current.CancellationToken);
        using var call = daemon.Client.StreamMasks(new StreamMasksRequest { Options = new MaskOptions { Encoding = MaskEncoding.None } }, cancellationToken: TestContext.Current.CancellationToken);
        Assert.True(await NextAsync(call, _ => true));
        Assert.True(call.ResponseStream.Current.OverlayEnabled);
    }

    [Fact]
    public async Task Leds_show_ready_and_inferencing_while_frames_flow()
    {
        await using var daemon = await TestDaemon.StartAsync(Gpio());
        var chip = await Chip(daemon);
        await WaitFor(() => chip.GetOutputValue(ReadyLed) == PinValue.High && chip.GetOutputValue(InferencingLed) == PinValue.High);
        Assert.Equal(PinValue.Low, chip.GetOutputValue(FaultLed));
    }

    [Fact]
    public async Task Fault_led_is_lit_when_the_model_cannot_be_used()
    {
        await using var daemon = await TestDaemon.StartAsync(Gpio(("Daemon:Model:Path", "/nonexistent/model.onnx")), waitUntilServing: false);
        var chip = await Chip(daemon);
        await WaitFor(() => chip.GetOutputValue(FaultLed) == PinValue.High);
        Assert.Equal(PinValue.Low, chip.GetOutputValue(ReadyLed));
        Assert.Equal(PinValue.Low, chip.GetOutputValue(InferencingLed));
    }

    [Fact]
    public async Task Absent_gpio_chip_leaves_the_daemon_serving_without_a_panel()
    {
        await using var daemon = await TestDaemon.StartAsync(Gpio(("Daemon:Gpio:Driver", "libgpiod"), ("Daemon:Gpio:Chip", "/dev/gpiochip-absent")));
        var panel = daemon.App.Services.GetRequiredService<OperatorPanel>();
        await panel.Started.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
        Assert.Null(panel.Driver);
        Assert.True((await daemon.Client.GetInfoAsync(new GetInfoRequest(), cancellationToken: TestContext.Current.CancellationToken)).Ready);
    }

    private static async Task Press(SimulatedGpioDriver chip, TimeSpan hold)
    {
        chip.SetInputValue(Pedal, PinValue.Low);
        await Task.Delay(hold, TestContext.Current.CancellationToken);
        chip.SetInputValue(Pedal, PinValue.High);
    }

    /// <summary>Reads the stream until a message matches (true) or 60 s pass (false).</summary>
    private static async Task<bool> NextAsync(AsyncServerStreamingCall<MaskMessage> call, Func<MaskMessage, bool> match)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(60));
        try
        {
            while (await call.ResponseStream.MoveNext(timeout.Token))
            {
                if (match(call.ResponseStream.Current)) return true;
            }
        }
        catch (Exception e) when (timeout.IsCancellationRequested && e is OperationCanceledException or RpcException)
        {
        }
        return false;
    }

    private static async Task WaitFor(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "the LEDs never reached the expected state");
            await Task.Delay(50, TestContext.Current.CancellationToken);
        }
    }
}
