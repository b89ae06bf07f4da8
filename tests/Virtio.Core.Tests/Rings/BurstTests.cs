using Virtio.Driver;
using Virtio.Rings;
using Virtio.Testing;

namespace Virtio.Core.Tests.Rings;

/// <summary>The device's burst pop and push: single-chain rules per chain, one index access per burst.</summary>
public class BurstTests
{
    [Fact]
    public void PopBurst_pops_the_available_chains_up_to_the_span_length_in_ring_order()
    {
        using var h = new RingHarness(size: 8);
        for (int i = 0; i < 5; i++)
        {
            h.AddSimple(i, writable: 0); // one descriptor each: heads 0 to 4
        }

        var chains = new DescriptorChain[3];
        Assert.Equal(3, h.Device.PopBurst(chains, out PopResult status));
        Assert.Equal(PopResult.Chain, status);
        Assert.Equal([0, 1, 2], chains.Select(c => (int)c.Head));
        Assert.Equal(2, h.Device.PopBurst(chains, out status));
        Assert.Equal(PopResult.Chain, status);
        Assert.Equal([3, 4], chains.Take(2).Select(c => (int)c.Head));
        Assert.Equal(5, h.Device.InUse);
        Assert.Equal(0, h.Device.PopBurst(chains, out status));
        Assert.Equal(PopResult.Empty, status);
    }

    [Fact]
    public void PopBurst_reads_avail_idx_once_when_the_shadow_holds_fewer_than_asked()
    {
        using var h = new RingHarness(size: 8);
        h.AddSimple(0);
        h.AddSimple(1);
        var one = new DescriptorChain[1];
        Assert.Equal(1, h.Device.PopBurst(one, out _));
        Assert.Equal(2, h.Device.ShadowAvailIdx);

        // The shadow still holds one chain and one is asked for: avail->idx is not read again.
        h.AddSimple(2);
        Assert.Equal(1, h.Device.PopBurst(one, out _));
        Assert.Equal(2, h.Device.ShadowAvailIdx);

        var four = new DescriptorChain[4];
        Assert.Equal(1, h.Device.PopBurst(four, out _));
        Assert.Equal(3, h.Device.ShadowAvailIdx);
    }

    [Fact]
    public void PopBurst_returns_the_good_chains_before_a_bad_one_and_breaks_the_queue()
    {
        using var h = new RingHarness(size: 8);
        h.AddSimple(0);
        h.AddSimple(1);
        h.AddSimple(2);
        h.WriteDescriptor(2 * 2, RingHarness.DataBase, 16, DescriptorFlags.Next, next: 8); // third chain: next past the table

        var chains = new DescriptorChain[8];
        Assert.Equal(2, h.Device.PopBurst(chains, out PopResult status));
        Assert.Equal(PopResult.Broken, status);
        Assert.Equal(VirtqueueErrorKind.NextOutOfRange, h.Device.Error!.Kind);
        Assert.Equal([0, 2], chains.Take(2).Select(c => (int)c.Head));
        Assert.Equal(2, h.Device.InUse);
        Assert.Equal(0, h.Device.PopBurst(chains, out status));
        Assert.Equal(PopResult.Broken, status);
    }

    [Fact]
    public void PopBurst_rejects_a_head_posted_twice_in_one_burst()
    {
        using var h = new RingHarness(size: 4);
        h.WriteDescriptor(1, RingHarness.DataBase, 16, DescriptorFlags.None, 0);
        h.PublishAvail(0, 1, 0);
        h.PublishAvail(1, 1, 2);

        var chains = new DescriptorChain[4];
        Assert.Equal(1, h.Device.PopBurst(chains, out PopResult status));
        Assert.Equal(PopResult.Broken, status);
        Assert.Equal(VirtqueueErrorKind.HeadInUse, h.Device.Error!.Kind);
    }

    [Fact]
    public void PopBurst_rejects_avail_idx_more_than_the_queue_size_ahead()
    {
        using var h = new RingHarness(size: 4);
        h.PublishAvail(0, 0, 5);

        Assert.Equal(0, h.Device.PopBurst(new DescriptorChain[2], out PopResult status));
        Assert.Equal(PopResult.Broken, status);
        Assert.Equal(VirtqueueErrorKind.AvailIndexTooFar, h.Device.Error!.Kind);
    }

    [Fact]
    public void PopBurst_pops_resubmitted_heads_before_the_available_ring()
    {
        using var h = new RingHarness(size: 8);
        for (int i = 0; i < 3; i++)
        {
            h.AddSimple(i);
        }

        // A restarted device: the chains at heads 2 and 0 were in flight (avail entries 0 and 1); entry 2 (head 4) is new.
        h.Device.Resubmit([2, 0]);
        var chains = new DescriptorChain[8];
        Assert.Equal(3, h.Device.PopBurst(chains, out PopResult status));
        Assert.Equal(PopResult.Chain, status);
        Assert.Equal([2, 0, 4], chains.Take(3).Select(c => (int)c.Head));
        Assert.Equal(0, h.Device.PendingResubmits);
    }

    [Fact]
    public void PushBurst_publishes_every_chain_with_one_used_idx_store_and_one_notification_decision()
    {
        using var h = new RingHarness(size: 8);
        h.Driver.EnableCallbacks();
        for (int i = 0; i < 4; i++)
        {
            h.AddSimple(i);
        }

        var chains = new DescriptorChain[4];
        Assert.Equal(4, h.Device.PopBurst(chains, out _));
        Assert.True(h.Device.PushBurst(chains, [1, 2, 3, 4]));
        Assert.Equal(4, h.GuestUsedIdx);
        Assert.Equal(4, h.Device.SignalledUsed);
        Assert.Equal(0, h.Device.InUse);
        for (int i = 0; i < 4; i++)
        {
            Assert.True(h.Driver.TryGetBuffer(out int token, out uint length));
            Assert.Equal(i, token);
            Assert.Equal((uint)(i + 1), length);
        }
    }

    [Fact]
    public void PushBurst_skips_chains_popped_before_a_reset()
    {
        using var h = new RingHarness(size: 4);
        h.AddSimple(0);
        var chains = new DescriptorChain[1];
        Assert.Equal(1, h.Device.PopBurst(chains, out _));
        h.Device.Reset();
        h.EnableAgain();

        Assert.False(h.Device.PushBurst(chains, [16]));
        Assert.Equal(0, h.GuestUsedIdx);
    }

    [Fact]
    public void PushBurst_throws_for_more_chains_than_are_in_flight()
    {
        using var h = new RingHarness(size: 4);
        h.AddSimple(0);
        var chains = new DescriptorChain[2];
        Assert.Equal(1, h.Device.PopBurst(chains.AsSpan(0, 1), out _));
        chains[1] = chains[0];

        Assert.Throws<InvalidOperationException>(() => h.Device.PushBurst(chains, [0, 0]));
        Assert.Equal(0, h.GuestUsedIdx);
    }

    [Fact]
    public void PushBurst_throws_when_lengths_and_chains_differ_in_number()
    {
        using var h = new RingHarness(size: 4);
        Assert.Throws<ArgumentException>(() => h.Device.PushBurst(new DescriptorChain[2], [0]));
    }
}
