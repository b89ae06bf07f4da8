using Virtio.Testing;
using Virtio.Diagnostics.Faults;
using Virtio.Diagnostics.Tests.Support;
using Virtio.Rings;

namespace Virtio.Diagnostics.Tests.Faults;

/// <summary>Fault-injecting channels between a real driver and device.</summary>
public class FaultyChannelRingTests
{
    [Fact]
    public void Dropping_the_only_kick_leaves_the_device_unaware_of_the_buffer()
    {
        FaultyEventNotifier? kick = null;
        using var pair = new RingHarness(wrapKick: inner => kick = new FaultyEventNotifier(inner, new SignalFaultPlan().Drop(SignalSelector.First(1)), "kick"), attachKick: true, name: "virtio-test");
        pair.AddAndKick(1);

        Assert.Equal(1, pair.Driver.KicksSent); // the driver did kick
        Assert.Equal(1, kick!.Dropped);
        Assert.Equal(0, pair.ServiceKick()); // the worker never wakes

        Assert.True(pair.Device.ReadGuestFields(out GuestRingFields guest));
        Assert.Equal(1, guest.AvailIdx); // the guest published it...
        SplitQueueState state = pair.Device.GetState();
        Assert.Equal(0, state.ShadowAvailIdx); // ...and the device never looked
        Assert.Equal(0, state.LastAvailIdx);
        Assert.Equal(0, state.UsedIdx);
    }

    [Fact]
    public void A_delayed_kick_wakes_the_device_only_when_released()
    {
        FaultyEventNotifier? kick = null;
        using var pair = new RingHarness(wrapKick: inner => kick = new FaultyEventNotifier(inner, new SignalFaultPlan().Delay(SignalSelector.All), "kick"), attachKick: true, name: "virtio-test");
        pair.AddAndKick(1);
        Assert.Equal(0, pair.ServiceKick());

        kick!.Release();
        Assert.Equal(1, pair.ServiceKick());
        Assert.Equal(1, pair.Device.UsedIdx);
    }

    [Fact]
    public void Dropping_kicks_after_a_ring_index_lets_the_earlier_buffers_through()
    {
        RingHarness? p = null;
        using var pair = p = new RingHarness(attachKick: true, name: "virtio-test",
            size: 16,
            wrapKick: inner => new FaultyEventNotifier(inner, new SignalFaultPlan().Drop(SignalSelector.After(() => p!.Driver.AvailIdxShadow >= 3))));
        for (int i = 0; i < 5; i++)
        {
            pair.AddAndKick(i);
            pair.ServiceKick();
            pair.Driver.TryGetBuffer(out _, out _);
        }

        Assert.Equal(2, pair.Device.LastAvailIdx); // buffers at ring index 0 and 1 were kicked and served
        Assert.True(pair.Device.ReadGuestFields(out GuestRingFields guest));
        Assert.Equal(5, guest.AvailIdx);
    }

    [Fact]
    public void Dropping_the_call_leaves_the_driver_unaware_of_the_completion()
    {
        using var pair = new RingHarness(wrapCall: inner => new FaultyEventNotifier(inner, new SignalFaultPlan().Drop(SignalSelector.All), "call"), attachKick: true, name: "virtio-test");
        pair.AddAndKick(1);
        Assert.Equal(1, pair.ServiceKick());

        Assert.Equal(0, pair.ServiceCall());
        Assert.Equal(0, pair.Driver.LastUsedIdx);
        Assert.Equal(1, pair.Device.UsedIdx);
    }
}
