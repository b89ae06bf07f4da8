using Virtio.Memory;
using Virtio.Rings;

namespace Virtio.Core.Tests.Rings;

/// <summary>Buffers outside the region the queue caches go through the full lookup, with the same rules.</summary>
public class MultiRegionTests
{
    private static (GuestMemory Memory, SplitQueue Queue) TwoRegions()
    {
        // Rings in [0, 64 KiB); a second, adjacent region [64 KiB, 128 KiB); a third after a gap at 1 MiB.
        var memory = new GuestMemory(
            GuestMemoryRegion.Allocate(0, 0x1_0000),
            GuestMemoryRegion.Allocate(0x1_0000, 0x1_0000),
            GuestMemoryRegion.Allocate(0x10_0000, 0x1000));
        var q = new SplitQueue(memory, 8) { DescriptorTableAddress = 0x1000, AvailRingAddress = 0x2000, UsedRingAddress = 0x3000, EventIdx = true };
        Assert.Null(q.Enable());
        return (memory, q);
    }

    private static void Publish(GuestMemory m, ulong addr, uint len)
    {
        m.Write<ulong>(0x1000, addr);
        m.Write<uint>(0x1008, len);
        m.Write<ushort>(0x100C, (ushort)DescriptorFlags.Write);
        m.Write<ushort>(0x2004, 0);
        m.Write<ushort>(0x2002, 1);
    }

    [Theory]
    [InlineData(0x1_8000UL, 64u)]
    [InlineData(0x10_0000UL, 0x1000u)]
    public void Buffer_in_another_region_is_mapped(ulong addr, uint len)
    {
        (GuestMemory m, SplitQueue q) = TwoRegions();
        Publish(m, addr, len);
        Assert.Equal(PopResult.Chain, q.Pop(out DescriptorChain c));
        Assert.Equal((int)len, c.CopyToWritable(new byte[len]));
        q.Reset();
        m.Dispose();
    }

    [Theory]
    [InlineData(0xFFF0UL, 32u)]      // straddles two adjacent regions: regions are never merged
    [InlineData(0x10_0F00UL, 0x200u)] // runs off the end of the last region
    [InlineData(0x8_0000UL, 16u)]    // in the gap
    public void Buffer_not_inside_one_region_breaks_the_queue(ulong addr, uint len)
    {
        (GuestMemory m, SplitQueue q) = TwoRegions();
        Publish(m, addr, len);
        Assert.Equal(PopResult.Broken, q.Pop(out _));
        Assert.Equal(VirtqueueErrorKind.BufferUnmapped, q.Error?.Kind);
        q.Reset();
        m.Dispose();
    }
}
