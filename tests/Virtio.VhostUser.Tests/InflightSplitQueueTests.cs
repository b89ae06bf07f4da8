using System.Buffers.Binary;
using Virtio.VhostUser;

namespace Virtio.VhostUser.Tests;

/// <summary>The split-queue record of the vhost-user inflight region: what a back-end leaves behind when it dies.</summary>
public sealed class InflightSplitQueueTests
{
    private const int Size = 8;

    [Theory]
    [InlineData(1, 64)]
    [InlineData(8, 192)]
    [InlineData(256, 4160)]
    public void Region_size_is_header_and_one_state_per_descriptor_rounded_to_64(int queueSize, int bytes) =>
        Assert.Equal(bytes, InflightSplitQueue.RegionSize(queueSize));

    [Fact]
    public void Recover_initialises_a_fresh_region_and_resubmits_nothing()
    {
        byte[] region = Fresh();
        (int count, ulong next, string? error) = InflightSplitQueue.Recover(region, Size, 0, new ushort[Size]);
        Assert.Null(error);
        Assert.Equal(0, count);
        Assert.Equal(1UL, next);
        Assert.Equal(InflightSplitQueue.Version, BinaryPrimitives.ReadUInt16LittleEndian(region.AsSpan(8)));
        Assert.Equal(Size, BinaryPrimitives.ReadUInt16LittleEndian(region.AsSpan(10)));
    }

    [Fact]
    public void Recover_resubmits_heads_popped_and_not_pushed_oldest_first()
    {
        byte[] region = Started();
        InflightSplitQueue.Get(region, 7, 1);
        InflightSplitQueue.Get(region, 2, 2);
        InflightSplitQueue.Get(region, 5, 3);
        InflightSplitQueue.Publishing(region, [2]);
        InflightSplitQueue.Published(region, [2], 1);
        var heads = new ushort[Size];
        (int count, ulong next, string? error) = InflightSplitQueue.Recover(region, Size, 1, heads);
        Assert.Null(error);
        Assert.Equal(new ushort[] { 7, 5 }, heads[..count]);
        Assert.Equal(4UL, next);
    }

    [Fact]
    public void Recover_counts_the_last_batch_head_complete_when_the_guest_saw_its_used_entry()
    {
        // Died between publishing used->idx = 1 and clearing head 5's flag: the guest has its completion already.
        byte[] region = Started();
        InflightSplitQueue.Get(region, 5, 1);
        InflightSplitQueue.Get(region, 6, 2);
        InflightSplitQueue.Publishing(region, [5]);
        var heads = new ushort[Size];
        (int count, _, string? error) = InflightSplitQueue.Recover(region, Size, 1, heads);
        Assert.Null(error);
        Assert.Equal(new ushort[] { 6 }, heads[..count]);
        Assert.Equal(1, BinaryPrimitives.ReadUInt16LittleEndian(region.AsSpan(14)));
    }

    [Fact]
    public void Recover_counts_the_whole_last_batch_complete_when_the_guest_saw_used_idx_cover_it()
    {
        // Died after used->idx = 3 published heads 4, 1 and 6 in one batch: none of them is owed, head 3 is.
        byte[] region = Started();
        InflightSplitQueue.Get(region, 4, 1);
        InflightSplitQueue.Get(region, 1, 2);
        InflightSplitQueue.Get(region, 3, 3);
        InflightSplitQueue.Get(region, 6, 4);
        InflightSplitQueue.Publishing(region, [4, 1, 6]);
        var heads = new ushort[Size];
        (int count, _, string? error) = InflightSplitQueue.Recover(region, Size, 3, heads);
        Assert.Null(error);
        Assert.Equal(new ushort[] { 3 }, heads[..count]);
    }

    [Fact]
    public void Recover_keeps_the_last_batch_owed_when_the_guest_never_saw_used_idx_move()
    {
        // Died between recording the batch and publishing used->idx: the guest saw nothing, all are resubmitted.
        byte[] region = Started();
        InflightSplitQueue.Get(region, 4, 1);
        InflightSplitQueue.Get(region, 1, 2);
        InflightSplitQueue.Publishing(region, [4, 1]);
        var heads = new ushort[Size];
        (int count, _, string? error) = InflightSplitQueue.Recover(region, Size, 0, heads);
        Assert.Null(error);
        Assert.Equal(new ushort[] { 4, 1 }, heads[..count]);
    }

    [Fact]
    public void Recover_rejects_a_used_idx_more_than_the_queue_size_ahead_of_the_record()
    {
        byte[] region = Started();
        (_, _, string? error) = InflightSplitQueue.Recover(region, Size, Size + 1, new ushort[Size]);
        Assert.Contains("more than the queue size", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Recover_rejects_a_last_batch_list_that_leaves_the_queue()
    {
        byte[] region = Started();
        InflightSplitQueue.Get(region, 4, 1);
        InflightSplitQueue.Publishing(region, [4]);
        BinaryPrimitives.WriteUInt16LittleEndian(region.AsSpan(16 + (4 * 16) + 6), 0xffff); // head 4's next
        (_, _, string? error) = InflightSplitQueue.Recover(region, Size, 2, new ushort[Size]);
        Assert.Contains("entry 1 names head 65535", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Recover_orders_garbage_counters_without_failing()
    {
        byte[] region = Started();
        InflightSplitQueue.Get(region, 0, ulong.MaxValue);
        InflightSplitQueue.Get(region, 1, 0);
        InflightSplitQueue.Get(region, 2, ulong.MaxValue);
        var heads = new ushort[Size];
        (int count, _, string? error) = InflightSplitQueue.Recover(region, Size, 0, heads);
        Assert.Null(error);
        Assert.Equal(3, count);
        Assert.Equal(1, heads[0]);
    }

    [Fact]
    public void Recover_rejects_a_record_for_another_queue_size()
    {
        byte[] region = Started();
        (_, _, string? error) = InflightSplitQueue.Recover(region, Size / 2, 0, new ushort[Size]);
        Assert.Contains("expected 1 and 4", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Recover_rejects_a_record_too_small_for_the_queue() =>
        Assert.Contains("too small", InflightSplitQueue.Recover(new byte[32], Size, 0, new ushort[Size]).Error, StringComparison.Ordinal);

    [Fact]
    public void Recover_rejects_a_last_batch_head_outside_the_queue()
    {
        byte[] region = Started();
        BinaryPrimitives.WriteUInt16LittleEndian(region.AsSpan(12), Size);
        (_, _, string? error) = InflightSplitQueue.Recover(region, Size, 3, new ushort[Size]);
        Assert.Contains("entry 0 names head 8", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Recover_rejects_an_inflight_flag_other_than_0_or_1()
    {
        byte[] region = Started();
        region[16 + (3 * 16)] = 2;
        (_, _, string? error) = InflightSplitQueue.Recover(region, Size, 0, new ushort[Size]);
        Assert.Contains("flag 2 of head 3", error, StringComparison.Ordinal);
    }

    private static byte[] Fresh() => new byte[InflightSplitQueue.RegionSize(Size)];

    private static byte[] Started()
    {
        byte[] region = Fresh();
        Assert.Null(InflightSplitQueue.Recover(region, Size, 0, new ushort[Size]).Error);
        return region;
    }
}
