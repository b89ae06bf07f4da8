using Virtio.Diagnostics.Faults;
using Virtio.Diagnostics.Tests.Support;
using Virtio.Notifications;
using Virtio.Testing;

namespace Virtio.Diagnostics.Tests.Faults;

[Collection(MeterCollection.Name)]
public class FaultyEventNotifierMeterTests
{
    [Fact]
    public void Each_signal_is_counted_by_its_action_and_each_delivery_by_its_channel()
    {
        const string channel = "meter-test/kick";
        using var signals = new MeasurementRecorder("virtio.fault.signals", "channel", channel);
        using var deliveries = new MeasurementRecorder("virtio.fault.deliveries", "channel", channel);
        var plan = new SignalFaultPlan().Drop(SignalSelector.Nth(1)).Duplicate(SignalSelector.Nth(2)).Delay(SignalSelector.Nth(3));
        var faulty = new FaultyEventNotifier(new EventNotifier(), plan, channel);
        for (int i = 0; i < 4; i++)
        {
            faulty.Signal();
        }

        faulty.Release();

        Assert.Equal(1, signals.Sum("action", "drop"));
        Assert.Equal(1, signals.Sum("action", "duplicate"));
        Assert.Equal(1, signals.Sum("action", "delay"));
        Assert.Equal(1, signals.Sum("action", "deliver"));
        Assert.Equal(4, deliveries.Sum("channel", channel)); // 2 + 1 + the released 1
    }

    [Fact]
    public void Dropping_and_passing_through_allocate_nothing()
    {
        var inner = new EventNotifier();
        var faulty = new FaultyEventNotifier(inner, new SignalFaultPlan { Seed = 5 }
            .Drop(SignalSelector.EveryNth(3))
            .Drop(SignalSelector.WithProbability(0.2))
            .Drop(SignalSelector.After(() => false)));
        Loop(faulty, 1000);

        Assert.Equal(0, SteadyState.AllocatedBytes(() => Loop(faulty, 100_000)));
        Assert.True(faulty.Dropped > 0 && faulty.Delivered > 0);

        static void Loop(FaultyEventNotifier faulty, int count)
        {
            for (int i = 0; i < count; i++)
            {
                faulty.Signal();
                faulty.TestAndClear();
            }
        }
    }
}
