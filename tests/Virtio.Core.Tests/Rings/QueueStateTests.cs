using Virtio.Testing;
using Virtio.Core.Tests.Support;
using Virtio.Rings;

namespace Virtio.Core.Tests.Rings;

/// <summary>Shadow state, wrap-around of the 16-bit indexes, unpop/rewind, reset.</summary>
public class QueueStateTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(256)]
    [InlineData(32768)]
    public void Indexes_wrap_from_65535_to_0_and_buffers_keep_round_tripping(int size)
    {
        using var h = new RingHarness(size: size, memorySize: 0x800_0000);
        var data = new Virtio.Driver.GuestSegment[] { h.Buffer(8, 0x11) };
        int batch = Math.Max(1, size / 2);
        int token = 0;
        int completed = 0;
        while (completed < 65536 + (2 * batch))
        {
            for (int i = 0; i < batch; i++)
            {
                Assert.Equal(Virtio.Driver.AddResult.Added, h.Driver.Add(data, default, token++));
            }

            for (int i = 0; i < batch; i++)
            {
                DescriptorChain c = h.PopOne();
                h.Device.Fill(c.Head, 0, i);
            }

            h.Device.Flush(batch);
            h.Device.ShouldNotify();
            for (int i = 0; i < batch; i++)
            {
                Assert.True(h.Driver.TryGetBuffer(out int t, out _));
                Assert.Equal(completed, t);
                completed++;
            }
        }

        ushort expected = (ushort)completed;
        Assert.Equal(expected, h.Device.LastAvailIdx);
        Assert.Equal(expected, h.Device.UsedIdx);
        Assert.Equal(expected, h.GuestAvailIdx);
        Assert.Equal(expected, h.GuestUsedIdx);
        Assert.True(completed > 65535);
    }

    [Fact]
    public void Pop_works_across_the_wrap_from_restored_state()
    {
        using var h = new RingHarness(size: 4);
        h.Device.SetState(new SplitQueueState(65534, 65534, 65534, 0, 65534, false, true));
        // The driver publishes entries at 65534, 65535 and 0 (slots 2, 3, 0).
        h.WriteDescriptor(0, RingHarness.DataBase, 8, DescriptorFlags.None, 0);
        h.WriteDescriptor(1, RingHarness.DataBase, 8, DescriptorFlags.None, 0);
        h.WriteDescriptor(2, RingHarness.DataBase, 8, DescriptorFlags.None, 0);
        h.PublishAvail(2, 2, 65535);
        h.PublishAvail(3, 1, 0);
        h.PublishAvail(0, 0, 1);
        Assert.Equal(3, h.Device.AvailableCount());
        Assert.Equal(2, h.PopOne().Head);
        Assert.Equal(1, h.PopOne().Head);
        Assert.Equal(0, h.PopOne().Head);
        Assert.Equal(1, h.Device.LastAvailIdx);
        h.Device.Fill(2, 0, 0);
        h.Device.Fill(1, 0, 1);
        h.Device.Fill(0, 0, 2);
        h.Device.Flush(3);
        Assert.Equal(1, h.GuestUsedIdx);
        Assert.Equal(2u, h.Memory.Read<uint>(h.Layout.UsedRing + 4 + (8 * 2)));
        Assert.Equal(0u, h.Memory.Read<uint>(h.Layout.UsedRing + 4 + (8 * 0)));
    }

    [Fact]
    public void Unpop_makes_the_next_pop_return_the_same_chain()
    {
        using var h = new RingHarness(size: 8);
        h.AddSimple(1);
        h.AddSimple(2);
        DescriptorChain first = h.PopOne();
        h.Device.Unpop();
        Assert.Equal(0, h.Device.InUse);
        Assert.Equal(0, h.Device.LastAvailIdx);
        Assert.Equal(first.Head, h.PopOne().Head);
    }

    [Fact]
    public void Rewind_gives_back_several_chains_in_order()
    {
        using var h = new RingHarness(size: 8);
        for (int i = 0; i < 3; i++)
        {
            h.AddSimple(i, writable: 0);
        }

        ushort[] heads = [h.PopOne().Head, h.PopOne().Head, h.PopOne().Head];
        Assert.True(h.Device.Rewind(2));
        Assert.Equal(1, h.Device.InUse);
        Assert.Equal(heads[1], h.PopOne().Head);
        Assert.Equal(heads[2], h.PopOne().Head);
    }

    [Fact]
    public void Rewind_beyond_inuse_changes_nothing()
    {
        using var h = new RingHarness(size: 8);
        h.AddSimple(1);
        h.PopOne();
        Assert.False(h.Device.Rewind(2));
        Assert.Equal(1, h.Device.InUse);
        Assert.Equal(1, h.Device.LastAvailIdx);
    }

    [Fact]
    public void Unpop_with_nothing_in_flight_throws() =>
        Assert.Throws<InvalidOperationException>(() => new RingHarness(size: 8).Device.Unpop());

    [Fact]
    public void Flush_of_more_than_in_flight_throws()
    {
        using var h = new RingHarness(size: 8);
        h.AddSimple(1);
        h.PopOne();
        Assert.Throws<InvalidOperationException>(() => h.Device.Flush(2));
    }

    [Fact]
    public void Fill_with_head_past_the_size_throws()
    {
        using var h = new RingHarness(size: 8);
        Assert.Throws<ArgumentOutOfRangeException>(() => h.Device.Fill(8, 0));
    }

    [Fact]
    public void State_round_trips_through_get_and_set()
    {
        using var h = new RingHarness(size: 8);
        var state = new SplitQueueState(100, 103, 98, 2, 97, true, false);
        h.Device.SetState(state);
        Assert.Equal(state, h.Device.GetState());
    }

    [Fact]
    public void SetState_rejects_inuse_inconsistent_with_the_indexes()
    {
        using var h = new RingHarness(size: 8);
        Assert.Throws<ArgumentException>(() => h.Device.SetState(new SplitQueueState(10, 10, 5, 3, 0, false, true)));
        Assert.Throws<ArgumentException>(() => h.Device.SetState(new SplitQueueState(20, 20, 5, 15, 0, false, true)));
        Assert.Throws<ArgumentException>(() => h.Device.SetState(new SplitQueueState(10, 30, 10, 0, 0, false, true)));
    }

    [Fact]
    public void Reset_returns_every_field_to_its_initial_value()
    {
        using var h = new RingHarness(size: 8);
        h.AddSimple(1);
        h.Device.Push(h.PopOne(), 1);
        h.Device.ShouldNotify();
        h.Device.SetNotification(false);
        h.Device.Reset();
        Assert.Equal(new SplitQueueState(0, 0, 0, 0, 0, false, true), h.Device.GetState());
        Assert.False(h.Device.IsReady);
        Assert.Equal(h.Device.MaxSize, h.Device.Size);
        Assert.Equal(0UL, h.Device.DescriptorTableAddress);
        Assert.Equal(0UL, h.Device.AvailRingAddress);
        Assert.Equal(0UL, h.Device.UsedRingAddress);
        Assert.Equal(PopResult.Empty, h.Device.Pop(out _));
    }

    [Fact]
    public void Chains_popped_before_reset_are_stale()
    {
        using var h = new RingHarness(size: 8);
        h.AddSimple(1);
        DescriptorChain c = h.PopOne();
        h.Device.Reset();
        int n = 0;
        foreach (DescriptorBuffer unused in c)
        {
            n++;
        }

        Assert.Equal(0, n);
        Assert.False(h.Device.Push(c, 1));
    }

    [Fact]
    public void ReadGuestFields_reads_the_six_fields_without_changing_state()
    {
        using var h = new RingHarness(size: 8);
        h.AddSimple(1);
        h.AddSimple(2);
        h.Device.Push(h.PopOne(), 3);
        SplitQueueState before = h.Device.GetState();
        Assert.True(h.Device.ReadGuestFields(out GuestRingFields f));
        Assert.Equal(before, h.Device.GetState());
        Assert.Equal(2, f.AvailIdx);
        Assert.Equal(1, f.UsedIdx);
        Assert.Equal(1, f.AvailEvent);
        Assert.Equal(0, f.UsedEvent);
        Assert.Equal(0, f.AvailFlags);
        Assert.Equal(0, f.UsedFlags);
    }

    [Fact]
    public void ReadGuestFields_is_false_when_not_ready() =>
        Assert.False(new SplitQueue(Virtio.Memory.GuestMemory.Create(4096), 8).ReadGuestFields(out _));

    [Fact]
    public void Chain_rewritten_in_flight_keeps_the_descriptors_validated_at_pop()
    {
        using var h = new RingHarness(size: 8);
        h.WriteDescriptor(0, RingHarness.DataBase, 16, DescriptorFlags.Next, 1);
        h.WriteDescriptor(1, RingHarness.DataBase + 16, 16, DescriptorFlags.Write, 0);
        h.PublishAvail(0, 0, 1);
        DescriptorChain c = h.PopOne();

        // Outside guest RAM, then at another buffer: the walk reads the table as the pop validated it (QEMU's element).
        h.WriteDescriptor(1, RingHarness.MemorySize + 0x1000, 16, DescriptorFlags.Write, 0);
        h.WriteDescriptor(0, RingHarness.DataBase + 0x1000, 4096, DescriptorFlags.Next | DescriptorFlags.Write, 5);
        Assert.Equal([(RingHarness.DataBase, 16u, false), (RingHarness.DataBase + 16, 16u, true)], Walk(c));
        Assert.Null(h.Device.Error);
    }

    [Fact]
    public void Small_indirect_table_rewritten_in_flight_keeps_the_descriptors_validated_at_pop()
    {
        using var h = new RingHarness(size: 8, indirect: true);
        h.WriteDescriptor(0, RingHarness.IndirectBase, 32, DescriptorFlags.Indirect, 0);
        h.WriteDescriptor(0, RingHarness.DataBase, 16, DescriptorFlags.Next, 1, RingHarness.IndirectBase);
        h.WriteDescriptor(1, RingHarness.DataBase + 16, 16, DescriptorFlags.Write, 0, RingHarness.IndirectBase);
        h.PublishAvail(0, 0, 1);
        DescriptorChain c = h.PopOne();
        h.WriteDescriptor(1, RingHarness.MemorySize + 0x1000, 16, DescriptorFlags.Write, 0, RingHarness.IndirectBase);
        h.WriteDescriptor(0, RingHarness.DataBase + 0x1000, 16, DescriptorFlags.Write, 0, RingHarness.IndirectBase);
        Assert.Equal([(RingHarness.DataBase, 16u, false), (RingHarness.DataBase + 16, 16u, true)], Walk(c));
        Assert.Null(h.Device.Error);
    }

    [Fact]
    public void Large_indirect_table_rewritten_in_flight_into_an_invalid_one_breaks_the_queue_and_ends_the_walk()
    {
        using var h = new RingHarness(size: 8, indirect: true);
        h.WriteDescriptor(0, RingHarness.IndirectBase, 64 * 16, DescriptorFlags.Indirect, 0); // too large to shadow
        h.WriteDescriptor(0, RingHarness.DataBase, 16, DescriptorFlags.Next, 1, RingHarness.IndirectBase);
        h.WriteDescriptor(1, RingHarness.DataBase + 16, 16, DescriptorFlags.Write, 0, RingHarness.IndirectBase);
        h.PublishAvail(0, 0, 1);
        DescriptorChain c = h.PopOne();
        h.WriteDescriptor(1, RingHarness.MemorySize + 0x1000, 16, DescriptorFlags.Write, 0, RingHarness.IndirectBase);
        int n = 0;
        foreach (DescriptorBuffer unused in c)
        {
            n++;
        }

        Assert.Equal(1, n);
        Assert.Equal(VirtqueueErrorKind.ChainModifiedInFlight, h.Device.Error?.Kind);
    }

    [Fact]
    public void A_descriptor_shared_by_two_chains_in_flight_breaks_the_queue_when_the_first_is_walked()
    {
        using var h = new RingHarness(size: 8);
        h.WriteDescriptor(0, RingHarness.DataBase, 16, DescriptorFlags.Next, 1);
        h.WriteDescriptor(1, RingHarness.DataBase + 16, 16, DescriptorFlags.Write, 0);
        h.WriteDescriptor(2, RingHarness.DataBase + 32, 16, DescriptorFlags.Next, 1);
        h.PublishAvail(0, 0, 1);
        h.PublishAvail(1, 2, 2);
        DescriptorChain first = h.PopOne();
        h.PopOne(); // its chain also ends in descriptor 1
        int n = 0;
        foreach (DescriptorBuffer unused in first)
        {
            n++;
        }

        Assert.Equal(1, n);
        Assert.Equal(VirtqueueErrorKind.ChainModifiedInFlight, h.Device.Error?.Kind);
    }

    [Fact]
    public void Copy_helpers_cross_buffer_boundaries_with_offsets()
    {
        using var h = new RingHarness(size: 8);
        var r1 = h.Buffer(3, 0);
        var r2 = h.Buffer(5, 0);
        h.Memory.GetSpan(r1.Address, 3).CopyTo(stackalloc byte[3]);
        new byte[] { 1, 2, 3 }.CopyTo(h.Memory.GetSpan(r1.Address, 3));
        new byte[] { 4, 5, 6, 7, 8 }.CopyTo(h.Memory.GetSpan(r2.Address, 5));
        var w1 = h.Buffer(2);
        var w2 = h.Buffer(4);
        Assert.Equal(Virtio.Driver.AddResult.Added, h.Driver.Add([r1, r2], [w1, w2], 9));
        DescriptorChain c = h.PopOne();
        byte[] got = new byte[4];
        Assert.Equal(4, c.CopyFromReadable(got, offset: 2));
        Assert.Equal(new byte[] { 3, 4, 5, 6 }, got);
        Assert.Equal(5, c.CopyToWritable([9, 9, 9, 9, 9, 9, 9], offset: 1));
        Assert.Equal(new byte[] { 0, 9 }, h.Memory.GetSpan(w1.Address, 2).ToArray());
        Assert.Equal(new byte[] { 9, 9, 9, 9 }, h.Memory.GetSpan(w2.Address, 4).ToArray());
    }

    [Fact]
    public void Single_buffer_chain_keeps_the_buffer_validated_at_pop_when_rewritten_in_flight()
    {
        using var h = new RingHarness(size: 8);
        var w = h.Buffer(4);
        var other = h.Buffer(4);
        Assert.Equal(Virtio.Driver.AddResult.Added, h.Driver.Add([], [w], 1));
        DescriptorChain c = h.PopOne();
        Assert.Equal(1, c.DescriptorCount);

        // A hostile driver points the in-flight descriptor outside guest RAM, then at another buffer.
        h.WriteDescriptor(0, RingHarness.MemorySize + 0x1000, 4, DescriptorFlags.Write, 0);
        Assert.Equal(4, c.CopyToWritable([1, 2, 3, 4]));
        h.WriteDescriptor(0, other.Address, 4, DescriptorFlags.Write, 0);
        Assert.Equal(2, c.CopyToWritable([5, 6], offset: 2));
        int n = 0;
        foreach (DescriptorBuffer buffer in c)
        {
            Assert.Equal(w.Address, buffer.Address);
            Assert.True(buffer.IsWritable);
            n++;
        }

        Assert.Equal(1, n);
        Assert.Equal(new byte[] { 1, 2, 5, 6 }, h.Memory.GetSpan(w.Address, 4).ToArray());
        Assert.Equal(new byte[4], h.Memory.GetSpan(other.Address, 4).ToArray());
        Assert.Null(h.Device.Error);
    }

    [Fact]
    public void Single_buffer_chain_copies_nothing_once_stale_or_past_its_end()
    {
        using var h = new RingHarness(size: 8);
        var r = h.Buffer(4, 7);
        var w = h.Buffer(4);
        Assert.Equal(Virtio.Driver.AddResult.Added, h.Driver.Add([r], [], 1));
        Assert.Equal(Virtio.Driver.AddResult.Added, h.Driver.Add([], [w], 2));
        DescriptorChain readable = h.PopOne();
        DescriptorChain writable = h.PopOne();
        byte[] got = new byte[8];
        Assert.Equal(0, readable.CopyFromReadable(got, offset: 4));
        Assert.Equal(0, readable.CopyToWritable([1]));
        Assert.Equal(0, writable.CopyFromReadable(got));
        Assert.Equal(4, readable.CopyFromReadable(got));
        Assert.Equal(new byte[] { 7, 7, 7, 7, 0, 0, 0, 0 }, got);

        h.Device.Reset();
        Assert.Equal(0, readable.CopyFromReadable(got));
        Assert.Equal(0, writable.CopyToWritable([1, 2, 3]));
        Assert.Equal(new byte[4], h.Memory.GetSpan(w.Address, 4).ToArray());
    }

    [Fact]
    public void TryGetSingleBuffer_maps_a_one_buffer_chain_in_place_and_nothing_else()
    {
        using var h = new RingHarness(size: 8);
        var r = h.Buffer(6, 3);
        Assert.Equal(Virtio.Driver.AddResult.Added, h.Driver.Add([r], [], 1));
        Assert.Equal(Virtio.Driver.AddResult.Added, h.Driver.Add([h.Buffer(2)], [h.Buffer(2)], 2));
        DescriptorChain single = h.PopOne();
        DescriptorChain two = h.PopOne();

        Assert.True(single.TryGetSingleBuffer(out Span<byte> buffer));
        Assert.Equal(6, buffer.Length);
        buffer[0] = 9; // in place: the guest's own bytes
        Assert.Equal(new byte[] { 9, 3, 3, 3, 3, 3 }, h.Memory.GetSpan(r.Address, 6).ToArray());
        Assert.False(two.TryGetSingleBuffer(out buffer));
        Assert.True(buffer.IsEmpty);

        h.Device.Reset();
        Assert.False(single.TryGetSingleBuffer(out _));
    }

    private static List<(ulong Address, uint Length, bool Writable)> Walk(DescriptorChain chain)
    {
        var seen = new List<(ulong, uint, bool)>();
        foreach (DescriptorBuffer buffer in chain)
        {
            seen.Add((buffer.Address, buffer.Length, buffer.IsWritable));
        }

        return seen;
    }
}
