using Virtio.Testing;
using Microsoft.Extensions.Time.Testing;
using Virtio.Diagnostics.Faults;
using Virtio.Diagnostics.Tests.Support;
using Virtio.Diagnostics.Watchdog;
using Virtio.Memory;
using Virtio.Rings;

namespace Virtio.Diagnostics.Tests.Watchdog;

/// <summary>The watchdog on a real driver and device, with faults injected into their channels.</summary>
public class SplitQueueWatchTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);
    private readonly FakeTimeProvider _time = new();

    [Fact]
    public void A_dropped_kick_is_reported_as_a_buffer_the_device_never_popped()
    {
        using var pair = new RingHarness(wrapKick: inner => new FaultyEventNotifier(inner, new SignalFaultPlan().Drop(SignalSelector.All)), attachKick: true, name: "virtio-test");
        using QueueWatchdog watchdog = CreateChecked();
        watchdog.Watch(pair.Device);
        pair.AddAndKick(1);
        pair.ServiceKick();

        QueueStallEventArgs stall = RunUntilStall(watchdog);

        Assert.Equal(new QueueProgress(true, false, AvailIdx: 1, LastAvailIdx: 0, ShadowAvailIdx: 0, UsedIdx: 0, InUse: 0, DriverConsumedIdx: 0), stall.Progress);
        Assert.StartsWith("virtio-test queue 0: 1 not popped, 0 in use, 0 not consumed", stall.Diagnosis);
    }

    [Fact]
    public void A_dropped_call_with_EVENT_IDX_is_reported_as_a_completion_the_driver_never_consumed()
    {
        using var pair = new RingHarness(wrapCall: inner => new FaultyEventNotifier(inner, new SignalFaultPlan().Drop(SignalSelector.All)), attachKick: true, name: "virtio-test");
        using QueueWatchdog watchdog = CreateChecked();
        watchdog.Watch(pair.Device); // no probe: used_event stands in for the driver's consumption
        pair.AddAndKick(1);
        pair.ServiceKick();
        Assert.True(pair.Driver.TryGetBuffer(out _, out _)); // consumed by a poll: used_event 1, a real position
        pair.AddAndKick(2);
        pair.ServiceKick();
        pair.ServiceCall(); // dropped

        QueueStallEventArgs stall = RunUntilStall(watchdog);

        Assert.Equal(2, stall.Progress.UsedIdx);
        Assert.Equal((ushort)1, stall.Progress.DriverConsumedIdx);
        Assert.Equal(1, stall.Progress.NotConsumed);
    }

    [Fact]
    public void An_idle_queue_whose_driver_polls_with_callbacks_off_is_not_reported()
    {
        // Linux's disable_cb writes used_event 0: that is no position, so nothing reads as unconsumed (as question 3 says).
        using var pair = new RingHarness(attachKick: true, name: "virtio-test");
        using QueueWatchdog watchdog = CreateChecked();
        SplitQueueWatch watch = watchdog.Watch(pair.Device);
        pair.Driver.DisableCallbacks();
        for (int i = 0; i < 3; i++)
        {
            pair.AddAndKick(i);
            Assert.Equal(1, pair.ServiceKick());
            Assert.True(pair.Driver.TryGetBuffer(out _, out _));
        }

        Assert.Null(watch.ReadProgress().DriverConsumedIdx);
        Assert.False(watch.ReadProgress().WorkOutstanding);
        watchdog.Check();
        _time.Advance(TimeSpan.FromMinutes(1));
        Assert.Equal(0, watchdog.Check());
    }

    [Fact]
    public void Used_event_ahead_of_used_idx_reads_as_unknown_not_as_the_drivers_position()
    {
        using var pair = new RingHarness(attachKick: true, name: "virtio-test");
        var watch = new SplitQueueWatch(pair.Device);
        for (int i = 0; i < 4; i++)
        {
            pair.AddAndKick(i);
        }

        pair.Driver.DisableCallbacks();
        Assert.True(pair.Driver.EnableCallbacksDelayed()); // used_event 3: "tell me after three quarters"
        Assert.Null(watch.ReadProgress().DriverConsumedIdx);
    }

    [Fact]
    public void Without_EVENT_IDX_a_dropped_call_is_seen_only_through_a_driver_probe()
    {
        using var pair = new RingHarness(eventIdx: false, wrapCall: inner => new FaultyEventNotifier(inner, new SignalFaultPlan().Drop(SignalSelector.All)), attachKick: true, name: "virtio-test");
        using QueueWatchdog watchdog = CreateChecked();
        var blind = new SplitQueueWatch(pair.Device);
        pair.AddAndKick(1);
        pair.ServiceKick();
        pair.ServiceCall();

        Assert.Null(blind.ReadProgress().DriverConsumedIdx);
        Assert.False(blind.ReadProgress().WorkOutstanding);

        watchdog.Watch(pair.Device, () => pair.Driver.LastUsedIdx);
        Assert.Equal(1, RunUntilStall(watchdog).Progress.NotConsumed);
    }

    [Fact]
    public void A_ring_served_without_faults_is_never_reported()
    {
        using var pair = new RingHarness(attachKick: true, name: "virtio-test");
        using QueueWatchdog watchdog = CreateChecked();
        watchdog.Watch(pair.Device, () => pair.Driver.LastUsedIdx);
        for (int i = 0; i < 30; i++)
        {
            pair.AddAndKick(i);
            Assert.Equal(1, pair.ServiceKick());
            Assert.Equal(1, pair.ServiceCall());
            _time.Advance(TimeSpan.FromSeconds(1));
            Assert.Equal(0, watchdog.Check());
        }

        _time.Advance(TimeSpan.FromMinutes(1));
        Assert.Equal(0, watchdog.Check());
    }

    [Fact]
    public void A_released_kick_ends_the_stall_and_re_arms_the_watchdog()
    {
        FaultyEventNotifier? kick = null;
        using var pair = new RingHarness(wrapKick: inner => kick = new FaultyEventNotifier(inner, new SignalFaultPlan().Delay(SignalSelector.All)), attachKick: true, name: "virtio-test");
        using QueueWatchdog watchdog = CreateChecked();
        watchdog.Watch(pair.Device, () => pair.Driver.LastUsedIdx);
        pair.AddAndKick(1);
        RunUntilStall(watchdog);

        kick!.Release();
        pair.ServiceKick();
        pair.ServiceCall();
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(0, watchdog.Check());
        Assert.False(watchdog.Queues[0].ReadProgress().WorkOutstanding);

        pair.AddAndKick(2); // delayed again: a second stall
        Assert.Equal(2, RunUntilStall(watchdog).Progress.AvailIdx);
        Assert.Equal(2, watchdog.StallCount);
    }

    [Fact]
    public void A_queue_that_is_not_ready_reads_as_idle()
    {
        using GuestMemory memory = GuestMemory.Create(0x10000);
        var watch = new SplitQueueWatch(new SplitQueue(memory, maxSize: 8, index: 4, name: "virtio-idle"));

        Assert.Equal(default, watch.ReadProgress());
        Assert.Equal(("virtio-idle", 4), (watch.Name, watch.Index));
    }

    private QueueWatchdog CreateChecked() =>
        new(new QueueWatchdogOptions { TimeProvider = _time, StallTimeout = Timeout, CheckPeriod = TimeSpan.Zero });

    private QueueStallEventArgs RunUntilStall(QueueWatchdog watchdog)
    {
        QueueStallEventArgs? found = null;
        void OnStalled(object? sender, QueueStallEventArgs e) => found = e;
        watchdog.Stalled += OnStalled;
        try
        {
            watchdog.Check();
            for (int i = 0; i < 12 && found is null; i++)
            {
                _time.Advance(TimeSpan.FromSeconds(1));
                watchdog.Check();
            }
        }
        finally
        {
            watchdog.Stalled -= OnStalled;
        }

        Assert.NotNull(found);
        return found;
    }
}
