using Virtio.Testing;
using Virtio.Core.Tests.Support;
using Virtio.Rings;
using F = Virtio.Rings.DescriptorFlags;

namespace Virtio.Core.Tests.Rings;

/// <summary>
/// One test per rule of the split ring a hostile driver can break. Each builds the violation by hand, as such a
/// driver would, and checks the typed error, the numbers in the message, and that the queue then refuses work.
/// </summary>
public class ValidationTests
{
    private const ulong Data = RingHarness.DataBase;

    private static void AssertBroken(RingHarness h, VirtqueueErrorKind kind, string? messagePart = null)
    {
        Assert.Equal(PopResult.Broken, h.Device.Pop(out DescriptorChain chain));
        Assert.False(chain.IsValid);
        Assert.True(h.Device.IsBroken);
        Assert.Equal(kind, h.Device.Error!.Kind);
        if (messagePart is not null)
        {
            Assert.Contains(messagePart, h.Device.Error.Message, StringComparison.Ordinal);
        }

        Assert.Equal(PopResult.Broken, h.Device.Pop(out _)); // refuses work until reset
    }

    [Fact]
    public void Pop_rejects_avail_idx_more_than_size_ahead()
    {
        using var h = new RingHarness(size: 8);
        h.WriteDescriptor(0, Data, 16, F.None, 0);
        h.PublishAvail(0, 0, availIdx: 9);
        AssertBroken(h, VirtqueueErrorKind.AvailIndexTooFar, "from 0 to 9");
    }

    [Fact]
    public void Pop_accepts_avail_idx_exactly_size_ahead()
    {
        using var h = new RingHarness(size: 8);
        for (int i = 0; i < 8; i++)
        {
            h.AddSimple(i, writable: 0);
        }

        for (int i = 0; i < 8; i++)
        {
            h.PopOne();
        }
    }

    [Fact]
    public void Pop_rejects_more_chains_in_flight_than_the_queue_size()
    {
        using var h = new RingHarness(size: 4);
        for (int i = 0; i < 4; i++)
        {
            h.AddSimple(i, writable: 0);
            h.PopOne();
        }

        // A hostile driver publishes a fifth entry while all four are still in flight.
        h.PublishAvail(4, 0, availIdx: 5);
        AssertBroken(h, VirtqueueErrorKind.SizeExceeded, "Virtqueue size exceeded");
    }

    [Theory]
    [InlineData(8)]
    [InlineData(9)]
    [InlineData(65535)]
    public void Pop_rejects_head_index_at_or_past_queue_size(int head)
    {
        using var h = new RingHarness(size: 8);
        h.PublishAvail(0, (ushort)head, availIdx: 1);
        AssertBroken(h, VirtqueueErrorKind.HeadOutOfRange, $"Guest says index {head} is available");
    }

    [Fact]
    public void Pop_rejects_next_past_the_table()
    {
        using var h = new RingHarness(size: 8);
        h.WriteDescriptor(0, Data, 16, F.Next, 8);
        h.PublishAvail(0, 0, 1);
        AssertBroken(h, VirtqueueErrorKind.NextOutOfRange, "Desc next is 8");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(8)]
    public void Pop_rejects_a_looped_chain(int loopLength)
    {
        using var h = new RingHarness(size: 8);
        for (int i = 0; i < loopLength; i++)
        {
            h.WriteDescriptor(i, Data, 16, F.Next, (ushort)((i + 1) % loopLength));
        }

        h.PublishAvail(0, 0, 1);
        AssertBroken(h, VirtqueueErrorKind.LoopedDescriptor, "Looped descriptor");
    }

    [Fact]
    public void Pop_accepts_a_chain_as_long_as_the_table()
    {
        using var h = new RingHarness(size: 8);
        for (int i = 0; i < 8; i++)
        {
            h.WriteDescriptor(i, Data + ((ulong)i * 16), 16, i < 7 ? F.Next : F.None, (ushort)(i + 1));
        }

        h.PublishAvail(0, 0, 1);
        DescriptorChain chain = h.PopOne();
        Assert.Equal(8, chain.DescriptorCount);
        Assert.Equal(128u, chain.ReadableLength);
    }

    [Fact]
    public void Pop_rejects_indirect_when_not_negotiated()
    {
        using var h = new RingHarness(size: 8, indirect: false);
        h.WriteDescriptor(0, RingHarness.IndirectBase, 32, F.Indirect, 0);
        h.PublishAvail(0, 0, 1);
        AssertBroken(h, VirtqueueErrorKind.IndirectNotNegotiated, "VIRTIO_RING_F_INDIRECT_DESC");
    }

    [Theory]
    [InlineData(0u)]
    [InlineData(8u)]
    [InlineData(24u)]
    public void Pop_rejects_indirect_table_length_not_a_positive_multiple_of_16(uint len)
    {
        using var h = new RingHarness(size: 8, indirect: true);
        h.WriteDescriptor(0, RingHarness.IndirectBase, len, F.Indirect, 0);
        h.PublishAvail(0, 0, 1);
        AssertBroken(h, VirtqueueErrorKind.IndirectTableInvalidSize, "Invalid size for indirect buffer table");
    }

    [Fact]
    public void Pop_rejects_indirect_table_longer_than_the_maximum()
    {
        using var h = new RingHarness(size: 8, indirect: true);
        uint entries = (uint)h.Device.MaxIndirectDescriptors + 1;
        h.WriteDescriptor(0, RingHarness.IndirectBase, entries * 16, F.Indirect, 0);
        h.PublishAvail(0, 0, 1);
        AssertBroken(h, VirtqueueErrorKind.IndirectTableTooLarge, $"{entries} descriptors");
    }

    [Fact]
    public void Pop_rejects_indirect_table_outside_guest_memory()
    {
        using var h = new RingHarness(size: 8, indirect: true);
        h.WriteDescriptor(0, RingHarness.MemorySize - 16, 32, F.Indirect, 0);
        h.PublishAvail(0, 0, 1);
        AssertBroken(h, VirtqueueErrorKind.IndirectTableUnmapped, "Cannot map indirect buffer");
    }

    [Fact]
    public void Pop_rejects_indirect_descriptor_inside_an_indirect_table()
    {
        using var h = new RingHarness(size: 8, indirect: true);
        ulong table = RingHarness.IndirectBase;
        h.WriteDescriptor(0, table, 32, F.Indirect, 0);
        h.WriteDescriptor(0, Data, 16, F.Next, 1, table);
        h.WriteDescriptor(1, table + 0x100, 16, F.Indirect, 0, table);
        h.PublishAvail(0, 0, 1);
        AssertBroken(h, VirtqueueErrorKind.NestedIndirect, "Nested indirect");
    }

    [Fact]
    public void Pop_rejects_indirect_combined_with_next()
    {
        using var h = new RingHarness(size: 8, indirect: true);
        h.WriteDescriptor(0, RingHarness.IndirectBase, 16, F.Indirect | F.Next, 1);
        h.WriteDescriptor(0, Data, 16, F.None, 0, RingHarness.IndirectBase);
        h.PublishAvail(0, 0, 1);
        AssertBroken(h, VirtqueueErrorKind.IndirectWithNext, "INDIRECT and NEXT");
    }

    [Fact]
    public void Pop_rejects_readable_descriptor_after_a_writable_one()
    {
        using var h = new RingHarness(size: 8);
        h.WriteDescriptor(0, Data, 16, F.Write | F.Next, 1);
        h.WriteDescriptor(1, Data + 16, 16, F.None, 0);
        h.PublishAvail(0, 0, 1);
        AssertBroken(h, VirtqueueErrorKind.ReadableAfterWritable, "Incorrect order for descriptors");
    }

    [Fact]
    public void Pop_rejects_readable_after_writable_inside_an_indirect_table()
    {
        using var h = new RingHarness(size: 8, indirect: true);
        ulong table = RingHarness.IndirectBase;
        h.WriteDescriptor(0, table, 32, F.Indirect, 0);
        h.WriteDescriptor(0, Data, 16, F.Write | F.Next, 1, table);
        h.WriteDescriptor(1, Data + 16, 16, F.None, 0, table);
        h.PublishAvail(0, 0, 1);
        AssertBroken(h, VirtqueueErrorKind.ReadableAfterWritable);
    }

    [Theory]
    [InlineData(RingHarness.MemorySize, 16u)]          // starts past the end
    [InlineData(RingHarness.MemorySize - 8, 16u)]      // crosses the end
    [InlineData(ulong.MaxValue - 4, 16u)]              // address + length overflows
    public void Pop_rejects_buffer_outside_guest_memory(ulong address, uint len)
    {
        using var h = new RingHarness(size: 8);
        h.WriteDescriptor(0, address, len, F.None, 0);
        h.PublishAvail(0, 0, 1);
        AssertBroken(h, VirtqueueErrorKind.BufferUnmapped, "bogus descriptor");
    }

    [Fact]
    public void Pop_rejects_buffer_outside_guest_memory_in_the_middle_of_a_chain()
    {
        using var h = new RingHarness(size: 8);
        h.WriteDescriptor(0, Data, 16, F.Next, 1);
        h.WriteDescriptor(1, RingHarness.MemorySize + 0x1000, 16, F.Write, 0);
        h.PublishAvail(0, 0, 1);
        AssertBroken(h, VirtqueueErrorKind.BufferUnmapped);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Pop_rejects_zero_length_buffer(bool writable)
    {
        using var h = new RingHarness(size: 8);
        h.WriteDescriptor(0, Data, 0, writable ? F.Write : F.None, 0);
        h.PublishAvail(0, 0, 1);
        AssertBroken(h, VirtqueueErrorKind.ZeroLengthBuffer, "zero sized buffers are not allowed");
    }

    [Fact]
    public void Pop_rejects_buffer_longer_than_two_gigabytes()
    {
        using var h = new RingHarness(size: 8);
        h.WriteDescriptor(0, Data, 0x8000_0000, F.None, 0);
        h.PublishAvail(0, 0, 1);
        AssertBroken(h, VirtqueueErrorKind.BufferTooLarge);
    }

    [Fact]
    public void Pop_rejects_chain_whose_total_length_overflows_32_bits()
    {
        // Three 1.5 GiB buffers over the same 1.5 GiB of lazily committed guest RAM: 4.5 GiB in all.
        const uint big = 0x6000_0000;
        using var h = new RingHarness(size: 8, memorySize: RingHarness.DataBase + big);
        for (int i = 0; i < 3; i++)
        {
            h.WriteDescriptor(i, Data, big, (i < 2 ? F.Next : F.None) | F.Write, (ushort)(i + 1));
        }

        h.PublishAvail(0, 0, 1);
        AssertBroken(h, VirtqueueErrorKind.ChainLengthOverflow, "overflows 32 bits");
    }

    [Fact]
    public void Pop_accepts_direct_descriptors_followed_by_one_indirect_descriptor()
    {
        using var h = new RingHarness(size: 8, indirect: true);
        ulong table = RingHarness.IndirectBase;
        h.WriteDescriptor(0, Data, 16, F.Next, 3);
        h.WriteDescriptor(3, table, 32, F.Indirect | F.Write, 0); // WRITE on the table pointer is ignored (2.7.5.3.2)
        h.WriteDescriptor(0, Data + 0x100, 32, F.Next, 1, table);
        h.WriteDescriptor(1, Data + 0x200, 64, F.Write, 0, table);
        h.PublishAvail(0, 0, 1);

        DescriptorChain chain = h.PopOne();
        Assert.True(chain.IsIndirect);
        Assert.Equal(3, chain.DescriptorCount);
        Assert.Equal((2, 1), (chain.ReadableCount, chain.WritableCount));
        Assert.Equal((48u, 64u), (chain.ReadableLength, chain.WritableLength));
        var seen = new List<(ulong, uint, bool)>();
        foreach (DescriptorBuffer b in chain)
        {
            seen.Add((b.Address, b.Length, b.IsWritable));
        }

        Assert.Equal([(Data, 16u, false), (Data + 0x100, 32u, false), (Data + 0x200, 64u, true)], seen);
    }

    [Fact]
    public void Broken_queue_writes_nothing_more_to_guest_ram()
    {
        using var h = new RingHarness(size: 8);
        h.AddSimple(1);
        DescriptorChain chain = h.PopOne();
        h.PublishAvail(1, 200, 2); // bad head breaks the queue
        Assert.Equal(PopResult.Broken, h.Device.Pop(out _));
        ushort usedBefore = h.GuestUsedIdx;
        ushort availEventBefore = h.AvailEvent;
        h.Device.Push(chain.Head, 4);
        Assert.False(h.Device.ShouldNotify());
        h.Device.SetNotification(true);
        Assert.Equal(usedBefore, h.GuestUsedIdx);
        Assert.Equal(availEventBefore, h.AvailEvent);
        Assert.Equal(1, h.Device.InUse); // state frozen for diagnosis
    }

    [Fact]
    public void Reset_clears_a_broken_queue_so_it_works_again()
    {
        using var h = new RingHarness(size: 8);
        h.PublishAvail(0, 99, 1);
        Assert.Equal(PopResult.Broken, h.Device.Pop(out _));
        h.Device.Reset();
        Assert.False(h.Device.IsBroken);
        Assert.Null(h.Device.Error);
        Assert.False(h.Device.IsReady);

        // The same queue, made ready again, pops what the driver publishes (avail->idx is already 1 in guest RAM).
        h.WriteDescriptor(0, RingHarness.DataBase, 8, DescriptorFlags.None, 0);
        h.PublishAvail(0, 0, 1);
        h.EnableAgain();
        Assert.Equal(PopResult.Chain, h.Device.Pop(out DescriptorChain chain));
        Assert.Equal(0, chain.Head);
        Assert.Equal(8u, chain.ReadableLength);
        Assert.False(h.Device.IsBroken);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(3)]
    [InlineData(12)]
    [InlineData(512)]
    public void Enable_rejects_invalid_queue_size(int size)
    {
        using var h = new RingHarness(size: 8);
        var q = new SplitQueue(h.Memory, maxSize: 256)
        {
            Size = size,
            DescriptorTableAddress = h.Layout.DescriptorTable,
            AvailRingAddress = h.Layout.AvailRing,
            UsedRingAddress = h.Layout.UsedRing,
        };
        VirtqueueError? error = q.Enable();
        Assert.NotNull(error);
        Assert.Equal(VirtqueueErrorKind.InvalidSize, error.Kind);
        Assert.False(q.IsReady);
    }

    [Theory]
    [InlineData(8UL, 0x2000UL, 0x3000UL)]   // descriptor table not 16-aligned
    [InlineData(0x1000UL, 0x2001UL, 0x3000UL)] // avail ring not 2-aligned
    [InlineData(0x1000UL, 0x2000UL, 0x3002UL)] // used ring not 4-aligned
    public void Enable_rejects_misaligned_ring_areas(ulong desc, ulong avail, ulong used)
    {
        using var memory = Virtio.Memory.GuestMemory.Create(0x10000);
        var q = new SplitQueue(memory, 8) { DescriptorTableAddress = desc, AvailRingAddress = avail, UsedRingAddress = used };
        Assert.Equal(VirtqueueErrorKind.RingMisaligned, q.Enable()?.Kind);
    }

    [Theory]
    [InlineData(0xFFC0UL, 0x2000UL, 0x3000UL, "desc")]
    [InlineData(0x1000UL, 0xFFF0UL, 0x3000UL, "avail")]
    [InlineData(0x1000UL, 0x2000UL, 0xFFF0UL, "used")]
    public void Enable_rejects_ring_areas_outside_guest_memory(ulong desc, ulong avail, ulong used, string area)
    {
        using var memory = Virtio.Memory.GuestMemory.Create(0x10000);
        var q = new SplitQueue(memory, 8) { DescriptorTableAddress = desc, AvailRingAddress = avail, UsedRingAddress = used };
        VirtqueueError? error = q.Enable();
        Assert.Equal(VirtqueueErrorKind.RingUnmapped, error?.Kind);
        Assert.Contains($"Cannot map {area}", error!.Message, StringComparison.Ordinal);
        Assert.False(memory.IsInUse);
    }

    [Fact]
    public void Configuring_a_ready_queue_throws()
    {
        using var h = new RingHarness(size: 8);
        Assert.Throws<InvalidOperationException>(() => h.Device.Size = 4);
        Assert.Throws<InvalidOperationException>(() => h.Device.DescriptorTableAddress = 0);
        Assert.Throws<InvalidOperationException>(() => h.Device.EventIdx = false);
    }
}
