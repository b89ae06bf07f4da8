using Virtio.Devices.Net;
using Virtio.Devices.Tests.Net;
using Virtio.Devices.Tests.Support;
using Virtio.Rings;

namespace Virtio.Devices.Tests.Hostile;

/// <summary>Hostile guests writing their own rings against virtio-net: every ring error sets NEEDS_RESET when it is found.</summary>
public sealed class HostileNetGuestTests
{
    private const ulong Frame = RawGuest.Data;

    [Fact]
    public void Rx_avail_idx_too_far_ahead_found_when_a_frame_arrives_sets_needs_reset_at_once()
    {
        var backend = new FakeNetBackend();
        using var guest = new RawGuest(m => new VirtioNetDevice(m, backend), queue: 0);
        guest.Descriptor(0, Frame, 2048, DescriptorFlags.Write);
        guest.SetAvailIdx(100);

        backend.Sink!.Receive(0, default, NetRig.Frame(60));

        Assert.True(guest.NeedsReset);
        Assert.Contains("Guest moved used index from 0 to 100", guest.Device.BrokenReason, StringComparison.Ordinal);
        Assert.Equal(0, guest.UsedIdx);
    }

    [Fact]
    public void Rx_head_named_twice_for_one_merged_frame_breaks_the_device()
    {
        var backend = new FakeNetBackend();
        using var guest = new RawGuest(m => new VirtioNetDevice(m, backend), queue: 0, features: NetFeature.MrgRxBuf);
        guest.Descriptor(0, Frame, 1024, DescriptorFlags.Write);
        guest.Post(0);
        guest.Post(0); // the same buffer again: a 1500-byte frame needs two

        backend.Sink!.Receive(0, default, NetRig.Frame(1500));

        Assert.True(guest.NeedsReset);
        Assert.Contains("Guest posted descriptor head 0 while it is in use", guest.Device.BrokenReason, StringComparison.Ordinal);
        Assert.Equal(0, guest.UsedIdx);
    }

    [Fact]
    public void Tx_head_posted_twice_in_one_burst_breaks_the_device_because_the_first_is_still_in_flight()
    {
        // The tx handler pops a burst before it completes any of it (DPDK's vhost dequeue burst): the second posting
        // of head 0 is popped while the first is held, which spec 2.7.13 forbids (HeadInUse), as on rx.
        var backend = new FakeNetBackend();
        using var guest = new RawGuest(m => new VirtioNetDevice(m, backend), queue: 1);
        guest.Memory.GetSpan(Frame, VirtioNetHeader.Size).Clear();
        NetRig.Frame(60).CopyTo(guest.Memory.GetSpan(Frame + VirtioNetHeader.Size, 60));
        guest.Descriptor(0, Frame, VirtioNetHeader.Size + 60);
        guest.Post(0);
        guest.Post(0);
        guest.Kick();

        Assert.True(guest.NeedsReset);
        Assert.Contains("Guest posted descriptor head 0 while it is in use", guest.Device.BrokenReason, StringComparison.Ordinal);
        Assert.Equal(0, guest.UsedIdx);
        Assert.Empty(backend.Sent);
    }
}
