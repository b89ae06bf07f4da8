using Virtio.Testing;
using Virtio.Core.Tests.Support;
using Virtio.Rings;

namespace Virtio.Core.Tests.Hostile;

/// <summary>
/// A driver that writes its own avail ring may name a head the device is still working on (spec 2.7.13 forbids it):
/// the queue breaks with <see cref="VirtqueueErrorKind.HeadInUse"/>, whatever the shape of the second chain.
/// </summary>
public sealed class HeadInFlightTests
{
    private const ulong Data = RingHarness.DataBase;

    [Fact]
    public void Pop_rejects_head_already_in_flight()
    {
        using var h = new RingHarness(size: 8);
        WriteSingleDescriptors(h, 3);
        h.PublishAvail(0, 3, 1);
        Assert.Equal(3, h.PopOne().Head);

        h.PublishAvail(1, 3, 2);
        AssertNextPopBreaksOnHeadInUse(h);
        Assert.Equal("Guest posted descriptor head 3 while it is in use", h.Device.Error?.Message);
        Assert.Equal(1, h.Device.InUse);
    }

    [Fact]
    public void Pop_rejects_head_repeated_within_one_avail_batch()
    {
        using var h = new RingHarness(size: 8);
        WriteSingleDescriptors(h, 5);
        h.PublishAvail(0, 5, 1);
        h.PublishAvail(1, 5, 2);
        Assert.Equal(2, h.Device.AvailableCount());
        Assert.Equal(5, h.PopOne().Head);
        AssertNextPopBreaksOnHeadInUse(h);
    }

    [Fact]
    public void Pop_rejects_head_in_flight_reposted_as_a_different_chain()
    {
        using var h = new RingHarness(size: 8);
        WriteSingleDescriptors(h, 0);
        h.PublishAvail(0, 0, 1);
        h.PopOne();

        // Same head, now the start of a two-descriptor chain through the indirect-free slow path.
        h.WriteDescriptor(0, Data, 16, DescriptorFlags.Next, 1);
        h.WriteDescriptor(1, Data + 0x100, 16, DescriptorFlags.Write, 0);
        h.PublishAvail(1, 0, 2);
        AssertNextPopBreaksOnHeadInUse(h);
    }

    [Fact]
    public void Pop_breaks_once_on_a_storm_of_reposted_heads_and_pops_nothing_more()
    {
        using var h = new RingHarness(size: 256);
        WriteSingleDescriptors(h, 7);
        for (ushort i = 0; i < 256; i++)
        {
            h.PublishAvail(i, 7, (ushort)(i + 1));
        }

        Assert.Equal(PopResult.Chain, h.Device.Pop(out _));
        for (int i = 0; i < 1000; i++)
        {
            Assert.Equal(PopResult.Broken, h.Device.Pop(out _));
        }

        Assert.Equal(VirtqueueErrorKind.HeadInUse, h.Device.Error?.Kind);
        Assert.Equal(2, h.Device.LastAvailIdx);
        Assert.Equal(1, h.Device.InUse);
    }

    [Fact]
    public void Pop_accepts_a_head_again_once_its_completion_is_published()
    {
        using var h = new RingHarness(size: 8);
        WriteSingleDescriptors(h, 2);
        h.PublishAvail(0, 2, 1);
        DescriptorChain chain = h.PopOne();
        Assert.True(h.Device.Push(chain, 0));

        h.PublishAvail(1, 2, 2);
        Assert.Equal(2, h.PopOne().Head);
        Assert.False(h.Device.IsBroken);
    }

    [Fact]
    public void Pop_accepts_heads_again_once_a_batch_is_flushed_but_not_before()
    {
        using var h = new RingHarness(size: 8);
        WriteSingleDescriptors(h, 0, 1);
        h.PublishAvail(0, 0, 1);
        h.PublishAvail(1, 1, 2);
        h.PopOne();
        h.PopOne();
        h.Device.Fill(1, 0, 0);
        h.Device.Fill(0, 0, 1);
        h.Device.Flush(2);

        h.PublishAvail(2, 1, 3);
        h.PublishAvail(3, 0, 4);
        Assert.Equal(1, h.PopOne().Head);
        Assert.Equal(0, h.PopOne().Head);

        // Filled but not flushed: the driver cannot have seen it, so it is still in flight.
        h.Device.Fill(1, 0, 0);
        h.PublishAvail(4, 1, 5);
        AssertNextPopBreaksOnHeadInUse(h);
    }

    [Fact]
    public void Flush_frees_the_heads_filled_not_what_the_guest_rewrote_in_the_used_ring()
    {
        using var h = new RingHarness(size: 8);
        WriteSingleDescriptors(h, 0, 1);
        h.PublishAvail(0, 0, 1);
        h.PublishAvail(1, 1, 2);
        h.PopOne();
        h.PopOne();
        h.Device.Fill(0, 0, 0);
        h.Memory.Write(h.Layout.UsedRing + 4, 1u); // the guest rewrites the unpublished element's id
        h.Device.Flush(1);

        h.PublishAvail(2, 1, 3); // head 1 was never completed
        AssertNextPopBreaksOnHeadInUse(h);
    }

    [Fact]
    public void Unpop_gives_the_head_back_so_the_same_chain_pops_again()
    {
        using var h = new RingHarness(size: 8);
        WriteSingleDescriptors(h, 4);
        h.PublishAvail(0, 4, 1);
        h.PopOne();
        h.Device.Unpop();
        Assert.Equal(4, h.PopOne().Head);
        Assert.False(h.Device.IsBroken);
    }

    [Fact]
    public void Rewind_frees_the_heads_popped_even_when_the_guest_rewrote_the_avail_ring()
    {
        using var h = new RingHarness(size: 8);
        WriteSingleDescriptors(h, 0, 1, 2);
        h.PublishAvail(0, 0, 1);
        h.PublishAvail(1, 1, 2);
        h.PopOne();
        h.PopOne();
        h.PublishAvail(1, 2, 2); // slot 1 now names head 2: rewinding must free head 1, which was popped
        Assert.True(h.Device.Rewind(1));

        Assert.Equal(2, h.PopOne().Head); // the rewritten slot pops head 2
        h.PublishAvail(2, 0, 3); // head 0 is still in flight
        AssertNextPopBreaksOnHeadInUse(h);
    }

    [Fact]
    public void Reset_forgets_the_heads_in_flight()
    {
        using var h = new RingHarness(size: 8);
        WriteSingleDescriptors(h, 0);
        h.PublishAvail(0, 0, 1);
        h.PopOne();
        h.Device.Reset();
        h.EnableAgain(); // avail->idx is still 1 in guest RAM: slot 0 names head 0 again
        Assert.Equal(0, h.PopOne().Head);
        Assert.False(h.Device.IsBroken);
    }

    [Fact]
    public void A_chain_popped_before_a_reset_does_not_free_its_head_in_the_fresh_queue()
    {
        using var h = new RingHarness(size: 8);
        WriteSingleDescriptors(h, 0);
        h.PublishAvail(0, 0, 1);
        DescriptorChain stale = h.PopOne();
        h.Device.Reset();
        h.EnableAgain();
        h.PopOne(); // head 0 again, in the fresh queue

        Assert.False(h.Device.Push(stale, 0)); // the late completion is discarded
        h.PublishAvail(1, 0, 2);
        AssertNextPopBreaksOnHeadInUse(h);
    }

    [Fact]
    public void SetState_without_heads_accepts_restored_heads_and_tracks_new_pops()
    {
        using var h = new RingHarness(size: 8);
        h.Device.SetState(new SplitQueueState(2, 2, 0, 2, 0, false, true));
        WriteSingleDescriptors(h, 0);
        h.PublishAvail(2, 0, 3);
        h.PublishAvail(3, 0, 4);
        Assert.Equal(0, h.PopOne().Head); // a restored head is unknown: accepted
        Assert.Equal(PopResult.Broken, h.Device.Pop(out _)); // but not twice
        Assert.Equal(VirtqueueErrorKind.HeadInUse, h.Device.Error?.Kind);
    }

    [Fact]
    public void SetState_with_heads_rejects_a_restored_head_posted_again()
    {
        using var h = new RingHarness(size: 8);
        h.Device.SetState(new SplitQueueState(2, 2, 0, 2, 0, false, true), [6, 1]);
        WriteSingleDescriptors(h, 6);
        h.PublishAvail(2, 6, 3);
        AssertNextPopBreaksOnHeadInUse(h);
    }

    [Fact]
    public void SetState_rejects_heads_that_do_not_match_inuse()
    {
        using var h = new RingHarness(size: 8);
        var state = new SplitQueueState(2, 2, 0, 2, 0, false, true);
        Assert.Throws<ArgumentException>(() => h.Device.SetState(state, [1]));
        Assert.Throws<ArgumentException>(() => h.Device.SetState(state, [1, 1]));
        Assert.Throws<ArgumentException>(() => h.Device.SetState(state, [1, 8]));
    }

    /// <summary>One-descriptor chains (16 readable bytes) at each of <paramref name="heads"/>.</summary>
    private static void WriteSingleDescriptors(RingHarness h, params int[] heads)
    {
        foreach (int head in heads)
        {
            h.WriteDescriptor(head, Data, 16, DescriptorFlags.None, 0);
        }
    }

    /// <summary>The rule every test here ends on: the next pop breaks the queue with HeadInUse.</summary>
    private static void AssertNextPopBreaksOnHeadInUse(RingHarness h)
    {
        Assert.Equal(PopResult.Broken, h.Device.Pop(out _));
        Assert.Equal(VirtqueueErrorKind.HeadInUse, h.Device.Error?.Kind);
    }
}
