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
        InflightSplitQueue.PrePut(region, 2);
        InflightSplitQueue.PostPut(region, 2, 1);
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
        InflightSplitQueue.PrePut(region, 5);
        var heads = new ushort[Size];
        (int count, _, string? error) = InflightSplitQueue.Recover(region, Size, 1, heads);
        Assert.Null(error);
        Assert.Equal(new ushort[] { 6 }, heads[..count]);
        Assert.Equal(1, BinaryPrimitives.ReadUInt16LittleEndian(region.AsSpan(14)));
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
        Assert.Contains("last_batch_head 8", error, StringComparison.Ordinal);
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
