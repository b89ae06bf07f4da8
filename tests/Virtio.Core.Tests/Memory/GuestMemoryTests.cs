using Virtio.Testing;
using System.Runtime.InteropServices;
using Virtio.Core.Tests.Support;
using Virtio.Memory;

namespace Virtio.Core.Tests.Memory;

public class GuestMemoryTests
{
    /// <summary>Three regions with gaps: [0x1000, 0x2000), [0x3000, 0x4000), [0x4000, 0x5000).</summary>
    private static GuestMemory ThreeRegions() => new(
        GuestMemoryRegion.Allocate(0x1000, 0x1000),
        GuestMemoryRegion.Allocate(0x3000, 0x1000),
        GuestMemoryRegion.Allocate(0x4000, 0x1000));

    [Fact]
    public void Allocated_region_is_zeroed()
    {
        using var m = GuestMemory.Create(0x10000);
        Assert.False(m.GetSpan(0, 0x10000).ContainsAnyExcept((byte)0));
    }

    [Theory]
    [InlineData(0x0UL, 4UL, GuestMemoryError.Unmapped)]          // below the first region
    [InlineData(0x2000UL, 4UL, GuestMemoryError.Unmapped)]       // in the gap
    [InlineData(0x1FFEUL, 4UL, GuestMemoryError.CrossesRegionEnd)]
    [InlineData(0x3FFEUL, 4UL, GuestMemoryError.CrossesRegionEnd)] // into an adjacent region: never merged
    [InlineData(0x5000UL, 1UL, GuestMemoryError.Unmapped)]       // above the last
    [InlineData(ulong.MaxValue - 2, 8UL, GuestMemoryError.AddressOverflow)]
    [InlineData(0x1000UL, 4UL, GuestMemoryError.None)]
    [InlineData(0x1FFCUL, 4UL, GuestMemoryError.None)]
    [InlineData(0x4FFFUL, 1UL, GuestMemoryError.None)]
    [InlineData(0x2000UL, 0UL, GuestMemoryError.None)]           // empty access at a region's end
    public void Accesses_are_checked_against_exactly_one_region(ulong address, ulong length, GuestMemoryError expected)
    {
        using var m = ThreeRegions();
        Assert.Equal(expected == GuestMemoryError.None, m.IsValidRange(address, length));
        byte[] buffer = new byte[length];
        Assert.Equal(expected, m.TryRead(address, buffer));
        Assert.Equal(expected, m.TryWrite(address, buffer));
    }

    [Fact]
    public void Negative_span_length_is_too_large()
    {
        using var m = GuestMemory.Create(0x1000);
        Assert.Equal(GuestMemoryError.TooLarge, m.TryGetSpan(0, -1, out _));
    }

    [Fact]
    public void Integers_are_little_endian_and_may_be_unaligned()
    {
        using var m = GuestMemory.Create(0x1000);
        Assert.Equal(GuestMemoryError.None, m.TryWrite<ulong>(0x101, 0x0807060504030201));
        Assert.Equal(new byte[] { 1, 2, 3, 4, 5, 6, 7, 8 }, m.GetSpan(0x101, 8).ToArray());
        Assert.Equal(GuestMemoryError.None, m.TryRead(0x103, out ushort u16));
        Assert.Equal(0x0403, u16);
        Assert.Equal(0x08070605u, m.Read<uint>(0x105));
        Assert.Equal((byte)1, m.Read<byte>(0x101));
    }

    [Fact]
    public void Index_access_refuses_odd_addresses()
    {
        using var m = GuestMemory.Create(0x1000);
        Assert.Equal(GuestMemoryError.Misaligned, m.TryReadIndex(0x11, out _));
        Assert.Equal(GuestMemoryError.Misaligned, m.TryWriteIndex(0x11, 1));
        Assert.Equal(GuestMemoryError.None, m.TryWriteIndex(0x10, 0xBEEF));
        Assert.Equal(GuestMemoryError.None, m.TryReadIndex(0x10, out ushort v));
        Assert.Equal(0xBEEF, v);
    }

    [Fact]
    public void Throwing_accessors_report_error_address_and_length()
    {
        using var m = GuestMemory.Create(0x1000);
        var e = Assert.Throws<GuestMemoryException>(() => m.Read<uint>(0xFFE));
        Assert.Equal((GuestMemoryError.CrossesRegionEnd, 0xFFEUL, 4UL), (e.Error, e.Address, e.Length));
        Assert.Throws<GuestMemoryException>(() => m.Write<ulong>(0x2000, 1));
        Assert.Throws<GuestMemoryException>(() => m.GetSpan(0x1000, 1));
    }

    [Fact]
    public void Overlapping_regions_are_refused()
    {
        Assert.Throws<ArgumentException>(() => new GuestMemory(GuestMemoryRegion.Allocate(0, 0x2000), GuestMemoryRegion.Allocate(0x1000, 0x1000)));
        using var m = GuestMemory.Create(0x2000);
        using var r = GuestMemoryRegion.Allocate(0x1FFF, 0x10);
        Assert.Throws<ArgumentException>(() => m.AddRegion(r));
    }

    [Theory]
    [InlineData(0UL, 0UL)]
    [InlineData(ulong.MaxValue, 2UL)]
    [InlineData(1UL, ulong.MaxValue)]
    public void Region_of_size_zero_or_wrapping_the_address_space_is_refused(ulong gpa, ulong size) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => GuestMemoryRegion.Allocate(gpa, size));

    [Fact]
    public void Regions_can_be_added_and_removed_while_no_queue_uses_them()
    {
        using var m = GuestMemory.Create(0x1000);
        m.AddRegion(GuestMemoryRegion.Allocate(0x10000, 0x1000));
        Assert.True(m.IsValidRange(0x10000, 0x1000));
        Assert.Equal(0x11000UL, m.EndAddress);
        using GuestMemoryRegion removed = m.RemoveRegion(0x10000);
        Assert.False(m.IsValidRange(0x10000, 1));
        Assert.Throws<ArgumentException>(() => m.RemoveRegion(0x10000));
    }

    [Fact]
    public void Region_set_is_frozen_while_a_queue_is_ready_and_free_after_reset()
    {
        var h = new RingHarness(size: 8);
        Assert.True(h.Memory.IsInUse);
        Assert.Throws<InvalidOperationException>(() => h.Memory.AddRegion(GuestMemoryRegion.Allocate(0x1_0000_0000, 0x1000)));
        Assert.Throws<InvalidOperationException>(() => h.Memory.RemoveRegion(0));
        h.Device.Reset();
        h.Driver.Dispose();
        Assert.False(h.Memory.IsInUse);
        h.Memory.AddRegion(GuestMemoryRegion.Allocate(0x1_0000_0000, 0x1000));
        h.Memory.Dispose();
    }

    [Fact]
    public void Dispose_while_a_queue_is_ready_is_deferred_until_it_resets()
    {
        var h = new RingHarness(size: 8);
        h.Driver.Dispose();
        h.Memory.Write<uint>(RingHarness.DataBase, 7);
        h.Memory.Dispose();
        Assert.Equal(7u, h.Memory.Read<uint>(RingHarness.DataBase)); // still mapped: the device pins it
        h.Device.Reset();
        Assert.Empty(h.Memory.Regions);
        Assert.False(h.Memory.IsValidRange(RingHarness.DataBase, 4));
    }

    [Fact]
    public unsafe void Wrapped_memory_is_released_through_the_callback_and_never_freed()
    {
        nint host = (nint)NativeMemory.AllocZeroed(0x1000);
        nint released = 0;
        using (var m = new GuestMemory(GuestMemoryRegion.Wrap(0x8000, 0x1000, host, p => released = p)))
        {
            m.Write<uint>(0x8010, 0xABCD);
            Assert.Equal(0xABCDu, *(uint*)(host + 0x10));
            Assert.False(m.Regions[0].OwnsMemory);
        }

        Assert.Equal(host, released);
        Assert.Equal(0xABCDu, *(uint*)(host + 0x10)); // still ours to read: not freed
        NativeMemory.Free((void*)host);
    }

    [Fact]
    public unsafe void Wrap_refuses_host_and_guest_alignment_that_differ_modulo_8()
    {
        nint host = (nint)NativeMemory.AlignedAlloc(0x1000, 16);
        try
        {
            Assert.Throws<ArgumentException>(() => GuestMemoryRegion.Wrap(0x1002, 0x100, host));
            using var ok = GuestMemoryRegion.Wrap(0x1008, 0x100, host + 8);
            Assert.Throws<ArgumentNullException>(() => GuestMemoryRegion.Wrap(0, 0x100, 0));
        }
        finally
        {
            NativeMemory.AlignedFree((void*)host);
        }
    }

    [Fact]
    public void Five_regions_each_readable_at_both_ends_and_gaps_refused()
    {
        var regions = Enumerable.Range(0, 5).Select(i => GuestMemoryRegion.Allocate((ulong)i * 0x10000, 0x1000)).ToArray();
        using var m = new GuestMemory(regions);
        for (int i = 0; i < 5; i++)
        {
            ulong b = (ulong)i * 0x10000;
            Assert.True(m.IsValidRange(b, 1));
            Assert.True(m.IsValidRange(b + 0xFFF, 1));
            Assert.False(m.IsValidRange(b + 0x1000, 1));
            Assert.False(m.IsValidRange(b + 0xFFF, 2));
        }
    }

    [Fact]
    public void Dump_zero_fills_gaps_and_has_the_exact_length()
    {
        using var m = ThreeRegions();
        m.Write<byte>(0x1000, 0x11);
        m.Write<byte>(0x4FFF, 0x44);
        using var s = new MemoryStream();
        m.Dump(s);
        byte[] dump = s.ToArray();
        Assert.Equal(0x5000, dump.Length);
        Assert.Equal(0x11, dump[0x1000]);
        Assert.Equal(0x44, dump[0x4FFF]);
        Assert.False(dump.AsSpan(0, 0x1000).ContainsAnyExcept((byte)0));
        Assert.False(dump.AsSpan(0x2000, 0x1000).ContainsAnyExcept((byte)0));
    }

    [Fact]
    public void Dump_then_load_round_trips_into_memory_with_the_same_regions()
    {
        using var a = ThreeRegions();
        new Random(7).NextBytes(a.GetSpan(0x3000, 0x1000));
        a.Write<ulong>(0x1008, 0x1122334455667788);
        using var s = new MemoryStream();
        a.Dump(s);
        s.Position = 0;
        using var b = ThreeRegions();
        Assert.Equal(0x5000UL, b.Load(s));
        Assert.Equal(a.GetSpan(0x3000, 0x1000).ToArray(), b.GetSpan(0x3000, 0x1000).ToArray());
        Assert.Equal(0x1122334455667788UL, b.Read<ulong>(0x1008));
    }

    [Fact]
    public void Load_refuses_non_zero_bytes_in_a_gap()
    {
        using var m = ThreeRegions();
        byte[] dump = new byte[0x3000];
        dump[0x2100] = 1;
        Assert.Throws<GuestMemoryException>(() => m.Load(new MemoryStream(dump)));
    }

    [Fact]
    public void Partial_dump_covers_the_requested_range_only()
    {
        using var m = GuestMemory.Create(0x1000);
        m.Write<uint>(0x100, 0xDEADBEEF);
        using var s = new MemoryStream();
        m.Dump(s, 0x100, 4);
        Assert.Equal(new byte[] { 0xEF, 0xBE, 0xAD, 0xDE }, s.ToArray());
    }

    [Fact]
    public void FromDump_builds_one_region_at_the_base_address_even_from_a_non_seekable_stream()
    {
        byte[] bytes = [.. Enumerable.Range(0, 300).Select(i => (byte)i)];
        using var m = GuestMemory.FromDump(new NonSeekable(bytes), 0x4000);
        Assert.Single(m.Regions);
        Assert.Equal(0x4000UL, m.Regions[0].GuestPhysicalAddress);
        Assert.Equal(unchecked((byte)299), m.Read<byte>(0x4000 + 299));
        Assert.False(m.IsValidRange(0x4000 + 300, 1));
    }

    private sealed class NonSeekable(byte[] data) : MemoryStream(data)
    {
        public override bool CanSeek => false;

        public override long Length => throw new NotSupportedException();
    }
}
