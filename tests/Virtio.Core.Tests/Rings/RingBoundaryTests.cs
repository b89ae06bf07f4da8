using Virtio.Core.Tests.Support;
using Virtio.Memory;
using Virtio.Rings;

namespace Virtio.Core.Tests.Rings;

/// <summary>
/// Rings that end exactly at the end of guest memory, with a guard page behind it: the device side must stay inside
/// the areas it validated (without EVENT_IDX the used_event and avail_event fields do not exist).
/// </summary>
public class RingBoundaryTests
{
    private const int Size = 8;

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Device_never_reads_past_an_avail_ring_that_ends_guest_memory(bool eventIdx)
    {
        using var page = new GuardedPage();
        ulong avail = GuardedPage.PageSize - SplitRing.AvailRingBytes(Size, eventIdx);
        RunOneBuffer(page.Memory, desc: 0, avail: avail, used: 0x100, eventIdx);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Device_never_writes_past_a_used_ring_that_ends_guest_memory(bool eventIdx)
    {
        using var page = new GuardedPage();
        // As close to the end as 4-byte alignment allows (flush with it without EVENT_IDX, 2 bytes short with it).
        ulong used = (GuardedPage.PageSize - SplitRing.UsedRingBytes(Size, eventIdx)) & ~3UL;
        RunOneBuffer(page.Memory, desc: 0, avail: 0x100, used: used, eventIdx);
    }

    [Fact]
    public void Buffer_that_runs_into_the_guard_page_breaks_the_queue_without_touching_it()
    {
        using var page = new GuardedPage();
        GuestMemory m = page.Memory;
        var q = Enable(m, 0, 0x100, 0x200, eventIdx: true);
        WriteChain(m, dataAddress: GuardedPage.PageSize - 8, dataLength: 16);
        Assert.Equal(PopResult.Broken, q.Pop(out _));
        Assert.Equal(VirtqueueErrorKind.BufferUnmapped, q.Error!.Kind);
        q.Reset();
    }

    private static void RunOneBuffer(GuestMemory m, ulong desc, ulong avail, ulong used, bool eventIdx)
    {
        SplitQueue q = Enable(m, desc, avail, used, eventIdx);
        WriteChain(m, dataAddress: 0x800, dataLength: 16, availRing: avail);
        Assert.Equal(PopResult.Chain, q.Pop(out DescriptorChain chain));
        foreach (DescriptorBuffer b in chain)
        {
            b.Span.Fill(0x5A);
        }

        q.SetNotification(false);
        q.Push(chain, 16);
        Assert.True(q.ShouldNotify());
        Assert.False(q.EnableNotificationAndRecheck());
        Assert.True(q.ReadGuestFields(out GuestRingFields fields));
        Assert.Equal(1, fields.UsedIdx);
        Assert.Equal(PopResult.Empty, q.Pop(out _));
        q.Reset();
    }

    private static SplitQueue Enable(GuestMemory m, ulong desc, ulong avail, ulong used, bool eventIdx)
    {
        var q = new SplitQueue(m, Size)
        {
            DescriptorTableAddress = desc,
            AvailRingAddress = avail,
            UsedRingAddress = used,
            EventIdx = eventIdx,
        };
        Assert.Null(q.Enable());
        return q;
    }

    private static void WriteChain(GuestMemory m, ulong dataAddress, uint dataLength, ulong availRing = 0x100)
    {
        m.Write<ulong>(0, dataAddress);
        m.Write<uint>(8, dataLength);
        m.Write<ushort>(12, (ushort)DescriptorFlags.Write);
        m.Write<ushort>(availRing + 4, 0);
        m.Write<ushort>(availRing + 2, 1);
    }
}
