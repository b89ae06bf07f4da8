using Virtio.Core.Tests.Support;
using Virtio.Device;
using Virtio.Rings;
using R = Virtio.Transport.VirtioMmioRegister;

namespace Virtio.Core.Tests.Hostile;

/// <summary>
/// Every ring error takes one path to the device error: NEEDS_RESET and the config interrupt happen when the ring
/// breaks, wherever that is found, not at the next pop (which may never come).
/// </summary>
public sealed class RingErrorEscalationTests
{
    private const ulong Features = VirtioFeature.RingEventIdx;

    // The device holds chains it never completes: reset at the end need not wait for them.
    private static readonly VirtioDeviceOptions NoDrain = new() { ResetDrainTimeout = TimeSpan.Zero };

    [Fact]
    public void AvailableCount_that_finds_avail_idx_too_far_sets_needs_reset_at_once()
    {
        using var rig = new MmioRig();
        rig.Driver.Probe(Features, 1, 8);
        SplitQueue ring = rig.Device.Queues[0].Ring;
        rig.Memory.Write<ushort>(ring.AvailRingAddress + 2, 9); // avail->idx 9 ahead of last_avail_idx 0 on 8 entries

        Assert.Equal(0, ring.AvailableCount()); // as a receive path asks before it pops
        Assert.True(rig.Device.IsBroken);
        Assert.Contains("Guest moved used index from 0 to 9", rig.Device.BrokenReason, StringComparison.Ordinal);
        Assert.Equal(DeviceStatus.DeviceNeedsReset, rig.Driver.ReadStatus() & DeviceStatus.DeviceNeedsReset);
        Assert.Equal(InterruptReason.ConfigChange, rig.Driver.TakeInterrupt() & InterruptReason.ConfigChange);
    }

    [Fact]
    public void A_walk_that_finds_an_in_flight_chain_rewritten_sets_needs_reset_at_once()
    {
        using var rig = new MmioRig(NoDrain);
        rig.Device.Hold = true;
        rig.Driver.Probe(Features | VirtioFeature.RingIndirectDesc, 1, 8);
        SplitQueue ring = rig.Device.Queues[0].Ring;

        // A hand-written chain through an indirect table of 64 entries (too large for the device to shadow, so its
        // walks read it from guest RAM again), using two of them.
        const ulong Table = 0x300_0000, Buffers = 0x310_0000;
        WriteDescriptor(rig, ring.DescriptorTableAddress, 0, Table, 64 * 16, DescriptorFlags.Indirect, 0);
        WriteDescriptor(rig, Table, 0, Buffers, 16, DescriptorFlags.Next, 1);
        WriteDescriptor(rig, Table, 1, Buffers + 0x1000, 16, DescriptorFlags.Write, 0);
        rig.Memory.Write<ushort>(ring.AvailRingAddress + 4, 0);
        rig.Memory.Write<ushort>(ring.AvailRingAddress + 2, 1);
        rig.SetReg(R.QueueNotify, 0);
        DescriptorChain chain = Assert.Single(rig.Device.Held).Chain;
        Assert.True(chain.IsIndirect);

        // After the kick, while the device holds the chain, the driver points the first entry past the table's end.
        rig.Memory.Write<ushort>(Table + 14, 0xffff);
        Span<byte> scratch = stackalloc byte[16];
        Assert.Equal(0, chain.CopyToWritable(scratch));

        Assert.Equal(VirtqueueErrorKind.ChainModifiedInFlight, ring.Error?.Kind);
        Assert.True(rig.Device.IsBroken);
        Assert.Contains($"Descriptor chain at head {chain.Head} changed while in flight", rig.Device.BrokenReason, StringComparison.Ordinal);
        Assert.Equal(DeviceStatus.DeviceNeedsReset, rig.Driver.ReadStatus() & DeviceStatus.DeviceNeedsReset);
        Assert.Equal(InterruptReason.ConfigChange, rig.Driver.TakeInterrupt() & InterruptReason.ConfigChange);
    }

    [Fact]
    public void A_head_reposted_while_in_flight_sets_needs_reset_on_the_device()
    {
        using var rig = new MmioRig(NoDrain);
        rig.Device.Hold = true;
        rig.Driver.Probe(Features, 1, 8);
        rig.AddRequest(0, 1, [1]);
        rig.Queue(0).Kick();
        ushort head = Assert.Single(rig.Device.Held).Chain.Head;
        SplitQueue ring = rig.Device.Queues[0].Ring;

        // The hostile driver names the same head again in the next avail slot.
        rig.Memory.Write(ring.AvailRingAddress + 4 + 2, head);
        rig.Memory.Write<ushort>(ring.AvailRingAddress + 2, 2);
        rig.SetReg(R.QueueNotify, 0);

        Assert.Single(rig.Device.Held);
        Assert.Contains($"Guest posted descriptor head {head} while it is in use", rig.Device.BrokenReason, StringComparison.Ordinal);
        Assert.Equal(DeviceStatus.DeviceNeedsReset, rig.Driver.ReadStatus() & DeviceStatus.DeviceNeedsReset);
    }

    [Fact]
    public void A_walk_of_a_chain_popped_before_a_reset_does_not_break_the_fresh_device()
    {
        using var rig = new MmioRig(new VirtioDeviceOptions { ResetDrainTimeout = TimeSpan.Zero });
        rig.Device.Hold = true;
        rig.Driver.Probe(Features, 1, 8);
        rig.AddRequest(0, 1, [1]);
        rig.Queue(0).Kick();
        DescriptorChain stale = Assert.Single(rig.Device.Held).Chain;
        rig.Device.Reset();

        Span<byte> scratch = stackalloc byte[16];
        Assert.Equal(0, stale.CopyFromReadable(scratch));
        Assert.False(rig.Device.IsBroken);
        Assert.False(rig.Device.Queues[0].Ring.IsBroken);
    }

    private static void WriteDescriptor(MmioRig rig, ulong table, int index, ulong addr, uint len, DescriptorFlags flags, ushort next)
    {
        ulong at = table + ((ulong)index * 16);
        rig.Memory.Write(at, addr);
        rig.Memory.Write(at + 8, len);
        rig.Memory.Write(at + 12, (ushort)flags);
        rig.Memory.Write(at + 14, next);
    }
}
