using Virtio.Rings;

namespace Virtio.Core.Tests.Rings;

/// <summary>The ring offsets every side computes through <see cref="SplitRing"/> and <see cref="SplitRingLayout"/> (VIRTIO 1.x 2.7).</summary>
public sealed class RingLayoutTests
{
    private static readonly SplitRingLayout Ring = SplitRingLayout.Create(0x1_0000, 256);

    [Fact]
    public void Descriptor_n_is_16_bytes_times_n_into_the_table()
    {
        Assert.Equal(0x1_0000UL + (16 * 5), Ring.DescriptorAddress(5));
        Assert.Equal(16u * 255, SplitRing.DescriptorOffset(255));
    }

    [Fact]
    public void Avail_entries_follow_flags_and_idx_and_wrap_at_the_queue_size()
    {
        Assert.Equal(Ring.AvailRing + 2, Ring.AvailIdxAddress);
        Assert.Equal(Ring.AvailRing + 4 + (2 * 3), Ring.AvailEntryAddress(3));
        Assert.Equal(Ring.AvailEntryAddress(3), Ring.AvailEntryAddress(256 + 3));
    }

    [Fact]
    public void Used_elements_are_8_bytes_after_flags_and_idx_and_wrap_at_the_queue_size()
    {
        Assert.Equal(Ring.UsedRing + 2, Ring.UsedIdxAddress);
        Assert.Equal(Ring.UsedRing + 4 + (8 * 7), Ring.UsedElementAddress(7));
        Assert.Equal(Ring.UsedElementAddress(7), Ring.UsedElementAddress(ushort.MaxValue - 248)); // 65287 & 255 == 7
    }

    [Fact]
    public void Used_event_and_avail_event_sit_just_after_the_last_ring_entry()
    {
        Assert.Equal(Ring.AvailRing + 4 + (2 * 256), Ring.UsedEventAddress);
        Assert.Equal(Ring.UsedRing + 4 + (8 * 256), Ring.AvailEventAddress);
        Assert.Equal(Ring.EndAddress, Ring.AvailEventAddress + 2);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(32768)]
    public void Ring_sizes_count_the_event_fields_only_with_event_idx(int size)
    {
        Assert.Equal(SplitRing.UsedEventOffset(size) + 2UL, SplitRing.AvailRingBytes(size, eventIdx: true));
        Assert.Equal((ulong)SplitRing.UsedEventOffset(size), SplitRing.AvailRingBytes(size, eventIdx: false));
        Assert.Equal(SplitRing.AvailEventOffset(size) + 2UL, SplitRing.UsedRingBytes(size, eventIdx: true));
        Assert.Equal(4 + (8UL * (ulong)size), SplitRing.UsedRingBytes(size, eventIdx: false));
    }
}
