using Virtio.Driver;
using Virtio.Notifications;
using Virtio.Rings;
using Virtio.Testing;

namespace Virtio.Driver.Tests;

/// <summary>The driver's burst add and get: each buffer as Add and TryGetBuffer treat it, one index access per burst.</summary>
public class DriverBurstTests
{
    [Fact]
    public void AddBurst_publishes_every_buffer_and_one_kick_decision_covers_them()
    {
        using var h = new RingHarness(size: 8);
        GuestSegment[] segs = [.. Enumerable.Range(0, 4).Select(_ => h.Buffer(8))];
        h.Memory.Write(h.Layout.AvailEventAddress, (ushort)2); // the device asks for a kick once entry 2 is published

        Assert.Equal(4, h.Driver.AddBurst(segs, 1, 0, [10, 11, 12, 13], out AddResult result));
        Assert.Equal(AddResult.Added, result);
        Assert.Equal(4, h.GuestAvailIdx);
        Assert.Equal(4, h.Driver.NumAdded);
        Assert.Equal([0, 1, 2, 3], Enumerable.Range(0, 4).Select(i => (int)h.Memory.Read<ushort>(h.Layout.AvailEntryAddress((ushort)i))));
        Assert.True(h.Driver.KickPrepare());
        for (int token = 10; token < 14; token++)
        {
            h.Device.Push(h.PopOne(), 0);
            Assert.True(h.Driver.TryGetBuffer(out int got, out _));
            Assert.Equal(token, got);
        }
    }

    [Fact]
    public void AddBurst_stops_at_no_space_publishes_the_added_ones_and_notifies_for_readable_buffers()
    {
        using var h = new RingHarness(size: 4);
        h.Driver.KickChannel = new EventNotifier();
        GuestSegment[] segs = [.. Enumerable.Range(0, 6).Select(_ => h.Buffer(8))];

        Assert.Equal(4, h.Driver.AddBurst(segs, 1, 0, [0, 1, 2, 3, 4, 5], out AddResult result));
        Assert.Equal(AddResult.NoSpace, result);
        Assert.Equal(4, h.GuestAvailIdx);
        Assert.Equal(1, h.Driver.KicksSent);
        Assert.Equal(4, h.Driver.InFlight);
    }

    [Fact]
    public void AddBurst_places_multi_segment_buffers_in_indirect_tables_as_add_does()
    {
        using var h = new RingHarness(size: 4, indirect: true);
        GuestSegment[] segs = [.. Enumerable.Range(0, 9).Select(_ => h.Buffer(8))];

        Assert.Equal(3, h.Driver.AddBurst(segs, 1, 2, [0, 1, 2], out _));
        Assert.Equal(1, h.Driver.NumFree);
        DescriptorChain c = h.PopOne();
        Assert.True(c.IsIndirect);
        Assert.Equal(1, c.ReadableCount);
        Assert.Equal(2, c.WritableCount);
    }

    [Fact]
    public void AddBurst_throws_when_the_segments_do_not_cover_the_tokens()
    {
        using var h = new RingHarness(size: 4);
        Assert.Throws<ArgumentException>(() => h.Driver.AddBurst([h.Buffer(8)], 1, 0, [0, 1], out _));
    }

    [Fact]
    public void GetBurst_writes_used_event_once_to_last_used_idx_while_callbacks_are_enabled()
    {
        using var h = Completed(size: 8, count: 3);
        var tokens = new int[2];
        var lengths = new uint[2];

        Assert.Equal(2, h.Driver.GetBurst(tokens, lengths));
        Assert.Equal([0, 1], tokens);
        Assert.Equal(2, h.UsedEvent);
        Assert.Equal(1, h.Driver.GetBurst(tokens, lengths));
        Assert.Equal(3, h.UsedEvent);
        Assert.Equal(0, h.Driver.GetBurst(tokens, lengths));
    }

    [Fact]
    public void GetBurst_leaves_used_event_alone_while_callbacks_are_disabled()
    {
        using var h = Completed(size: 8, count: 3);
        h.Driver.DisableCallbacks();

        Assert.Equal(3, h.Driver.GetBurst(new int[4], new uint[4]));
        Assert.Equal(0, h.UsedEvent);
        Assert.Equal(3, h.Driver.LastUsedIdx);
    }

    [Fact]
    public void GetBurst_returns_the_good_elements_before_a_bad_id_and_breaks_the_queue()
    {
        using var h = Completed(size: 8, count: 2);
        h.AddSimple(2, writable: 0);
        h.PopOne();
        h.Memory.Write(h.Layout.UsedElementAddress(2), 99u); // the device names a head past the table
        h.Memory.Write(h.Layout.UsedIdxAddress, (ushort)3);

        var tokens = new int[4];
        Assert.Equal(2, h.Driver.GetBurst(tokens, new uint[4]));
        Assert.Equal([0, 1], tokens.Take(2));
        Assert.Equal(DriverRingErrorKind.UsedIdOutOfRange, h.Driver.Error!.Kind);
        Assert.Equal(2, h.UsedEvent);
        Assert.Equal(2, h.Driver.LastUsedIdx);
    }

    [Fact]
    public void GetBurst_rejects_an_id_that_is_not_a_head_in_flight_within_one_burst()
    {
        using var h = Completed(size: 8, count: 1);
        h.AddSimple(1, writable: 0);
        h.PopOne();
        h.Memory.Write(h.Layout.UsedElementAddress(1), 0u); // head 0 again, already returned in this burst
        h.Memory.Write(h.Layout.UsedIdxAddress, (ushort)2);

        Assert.Equal(1, h.Driver.GetBurst(new int[4], new uint[4]));
        Assert.Equal(DriverRingErrorKind.UsedIdNotAHead, h.Driver.Error!.Kind);
    }

    /// <summary>A ring where <paramref name="count"/> one-descriptor buffers (tokens 0, 1, ...) are used and not yet got.</summary>
    private static RingHarness Completed(int size, int count)
    {
        var h = new RingHarness(size);
        for (int i = 0; i < count; i++)
        {
            h.AddSimple(i, writable: 0);
            h.Device.Push(h.PopOne(), 0);
        }

        return h;
    }
}
