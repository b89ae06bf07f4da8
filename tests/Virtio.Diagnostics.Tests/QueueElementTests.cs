using Virtio.Testing;
using System.Text.Json;
using Virtio.Diagnostics.Tests.Support;
using Virtio.Driver;
using Virtio.Rings;

namespace Virtio.Diagnostics.Tests;

public class QueueElementTests
{
    [Fact]
    public void A_direct_chain_is_listed_in_chain_order_with_its_head_as_index()
    {
        using var ring = new RingHarness(size: 8, placement: RingPlacement.Small, name: "virtio-blk");
        ring.RoundTrip(1); // the next request starts at another head and avail position
        (GuestSegment header, GuestSegment data, GuestSegment status) = ring.AddRequest(2, data: 4096);

        Assert.True(QueueElement.TryRead(ring.Device, null, out QueueElement? e, out QueueElementError? error), error?.Message);
        Assert.Equal(ring.Memory.Read<ushort>(ring.Layout.AvailRing + 4 + 2), e.Index);
        Assert.Equal(e.Index, e.AvailRing);
        Assert.Equal(
            [new VringDescriptor(header.Address, 16, DescriptorFlags.Next), new VringDescriptor(data.Address, 4096, DescriptorFlags.Write | DescriptorFlags.Next), new VringDescriptor(status.Address, 1, DescriptorFlags.Write)],
            e.Descriptors);
        Assert.Equal(((ushort)2, (ushort)1), (e.AvailIdx, e.UsedIdx));
        Assert.Equal("virtio-blk", e.Name);
    }

    [Fact]
    public void Json_lists_the_descriptors_in_reverse_chain_order_as_qemu_does()
    {
        using var ring = new RingHarness(size: 8, placement: RingPlacement.Small, name: "virtio-blk");
        (GuestSegment header, _, GuestSegment status) = ring.AddRequest(1);
        Assert.True(QueueElement.TryRead(ring.Device, null, out QueueElement? e, out _));

        using JsonDocument json = JsonDocument.Parse(e.ToJson());
        JsonElement descs = json.RootElement.GetProperty("descs");
        Assert.Equal(3, descs.GetArrayLength());
        Assert.Equal(status.Address, descs[0].GetProperty("addr").GetUInt64());
        Assert.Equal(["write"], descs[0].GetProperty("flags").EnumerateArray().Select(f => f.GetString()));
        Assert.Equal(["write", "next"], descs[1].GetProperty("flags").EnumerateArray().Select(f => f.GetString()));
        Assert.Equal(header.Address, descs[2].GetProperty("addr").GetUInt64());
        Assert.Equal(16u, descs[2].GetProperty("len").GetUInt32());
    }

    [Fact]
    public void Text_lists_the_descriptors_in_chain_order_in_the_hmp_layout()
    {
        var e = new QueueElement("virtio-blk", 0,
            [new VringDescriptor(44964112, 16, DescriptorFlags.Next), new VringDescriptor(47255552, 131072, DescriptorFlags.Write | DescriptorFlags.Next), new VringDescriptor(0x1000, 1, DescriptorFlags.Write)],
            0, 17, 0, 0, 17);
        Assert.Equal(
            Reference.QomPath + ":\n" +
            "  device_name: virtio-blk\n" +
            "  index:   0\n" +
            "  desc:\n" +
            "    descs:\n" +
            "        addr 0x2ae1910 len 16 (next),\n" +
            "        addr 0x2d11000 len 131072 (write, next),\n" +
            "        addr 0x1000 len 1 (write)\n" +
            "  avail:\n" +
            "    flags: 0\n" +
            "    idx:   17\n" +
            "    ring:  0\n" +
            "  used:\n" +
            "    flags: 0\n" +
            "    idx:   17\n",
            e.ToText(Reference.QomPath));
    }

    [Fact]
    public void An_indirect_head_is_replaced_by_its_table_as_qemu_does()
    {
        using var ring = new RingHarness(size: 8, indirect: true, placement: RingPlacement.Small, name: "virtio-blk");
        (GuestSegment header, GuestSegment data, GuestSegment status) = ring.AddRequest(1);

        Assert.True(QueueElement.TryRead(ring.Device, null, out QueueElement? e, out QueueElementError? error), error?.Message);
        Assert.Equal(0, e.Index);
        Assert.Equal([header.Address, data.Address, status.Address], e.Descriptors.Select(d => d.Addr));
        Assert.DoesNotContain(e.Descriptors, d => (d.Flags & DescriptorFlags.Indirect) != 0);
        using JsonDocument json = JsonDocument.Parse(e.ToJson());
        Assert.Equal(status.Address, json.RootElement.GetProperty("descs")[0].GetProperty("addr").GetUInt64());
    }

    [Fact]
    public void Json_has_the_field_names_and_value_kinds_of_the_real_reply()
    {
        var e = new QueueElement("virtio-blk", 0,
            [new VringDescriptor(44964112, 16, DescriptorFlags.Next), new VringDescriptor(47255552, 131072, DescriptorFlags.Write | DescriptorFlags.Next), new VringDescriptor(16850786456935650375, 1, DescriptorFlags.Write)],
            0, 17, 0, 0, 17);
        using JsonDocument real = JsonDocument.Parse(Reference.QueueElementJson);
        using JsonDocument ours = JsonDocument.Parse(e.ToQmpReplyJson());
        QueueStatusTests.AssertSameShape(real.RootElement, ours.RootElement);
        Assert.True(JsonElement.DeepEquals(real.RootElement.GetProperty("return").GetProperty("descs"), ours.RootElement.GetProperty("return").GetProperty("descs")));
        Assert.True(JsonElement.DeepEquals(real.RootElement.GetProperty("return").GetProperty("avail"), ours.RootElement.GetProperty("return").GetProperty("avail")));
        Assert.Contains("16850786456935650375", e.ToJson(), StringComparison.Ordinal);
    }

    [Fact]
    public void Flag_names_come_in_qemus_order()
    {
        Assert.Equal(["used", "avail", "indirect", "write", "next"], VringDescriptor.DecodeFlags(0x8087));
        Assert.Empty(VringDescriptor.DecodeFlags(0));
    }

    [Fact]
    public void The_index_argument_is_an_avail_ring_position_taken_modulo_the_size()
    {
        using var ring = new RingHarness(size: 8, placement: RingPlacement.Small, name: "virtio-blk");
        ring.AddRequest(1); // heads 0 and 3: each request takes three descriptors
        ring.AddRequest(2);
        Assert.True(QueueElement.TryRead(ring.Device, 0, out QueueElement? first, out _));
        Assert.True(QueueElement.TryRead(ring.Device, 8, out QueueElement? wrapped, out _));
        Assert.True(QueueElement.TryRead(ring.Device, 1, out QueueElement? second, out _));
        Assert.Equal(((ushort)0, (ushort)0, (ushort)3), (first.Index, wrapped.Index, second.Index));
    }

    [Fact]
    public void A_looping_chain_is_an_error_not_a_hang()
    {
        using var ring = new RingHarness(size: 8, placement: RingPlacement.Small, name: "virtio-blk");
        ring.WriteDescriptor(0, 0x10_0000, 16, DescriptorFlags.Next, 1);
        ring.WriteDescriptor(1, 0x10_0010, 16, DescriptorFlags.Next, 0);
        ring.PublishAvail(0, 0, 1);
        Assert.False(QueueElement.TryRead(ring.Device, null, out _, out QueueElementError? error));
        Assert.Equal(QueueElementErrorKind.LoopedDescriptor, error.Kind);
    }

    [Fact]
    public void A_loop_inside_an_indirect_table_is_an_error_not_a_hang()
    {
        using var ring = new RingHarness(size: 8, indirect: true, placement: RingPlacement.Small, name: "virtio-blk");
        ulong table = RingPlacement.Small.IndirectBase;
        ring.WriteDescriptor(0, 0x10_0000, 16, DescriptorFlags.Next, 1, table);
        ring.WriteDescriptor(1, 0x10_0010, 16, DescriptorFlags.Next, 0, table);
        ring.WriteDescriptor(3, table, 32, DescriptorFlags.Indirect, 0);
        ring.PublishAvail(0, 3, 1);
        Assert.False(QueueElement.TryRead(ring.Device, null, out _, out QueueElementError? error));
        Assert.Equal(QueueElementErrorKind.LoopedDescriptor, error.Kind);
    }

    [Theory]
    [InlineData(8, 0, QueueElementErrorKind.HeadOutOfRange)]
    [InlineData(0xffff, 0, QueueElementErrorKind.HeadOutOfRange)]
    [InlineData(0, 8, QueueElementErrorKind.NextOutOfRange)]
    [InlineData(0, 0xffff, QueueElementErrorKind.NextOutOfRange)]
    public void An_index_out_of_range_is_an_error(ushort head, ushort next, QueueElementErrorKind kind)
    {
        using var ring = new RingHarness(size: 8, placement: RingPlacement.Small, name: "virtio-blk");
        ring.WriteDescriptor(0, 0x10_0000, 16, DescriptorFlags.Next, next);
        ring.PublishAvail(0, head, 1);
        Assert.False(QueueElement.TryRead(ring.Device, null, out _, out QueueElementError? error));
        Assert.Equal(kind, error.Kind);
        Assert.Contains(kind == QueueElementErrorKind.HeadOutOfRange ? $"index {head}" : $"next is {next}", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0x10_0000UL, 0u, QueueElementErrorKind.IndirectTableInvalidSize)]
    [InlineData(0x10_0000UL, 24u, QueueElementErrorKind.IndirectTableInvalidSize)]
    [InlineData(0x3F_FFF0UL, 32u, QueueElementErrorKind.IndirectTableUnmapped)]
    [InlineData(ulong.MaxValue - 15, 32u, QueueElementErrorKind.IndirectTableUnmapped)]
    public void A_bad_indirect_table_is_an_error(ulong table, uint length, QueueElementErrorKind kind)
    {
        using var ring = new RingHarness(size: 8, indirect: true, placement: RingPlacement.Small, name: "virtio-blk");
        ring.WriteDescriptor(2, table, length, DescriptorFlags.Indirect, 0);
        ring.PublishAvail(0, 2, 1);
        Assert.False(QueueElement.TryRead(ring.Device, null, out _, out QueueElementError? error));
        Assert.Equal(kind, error.Kind);
    }

    [Fact]
    public void Rings_outside_guest_memory_are_an_error()
    {
        using var ring = new RingHarness(size: 8, placement: RingPlacement.Small, name: "virtio-blk");
        QueueStatus s = QueueStatus.Capture(ring.Device, "virtio-blk");
        Assert.False(QueueElement.TryRead(ring.Memory, s with { VringDesc = RingPlacement.Small.MemorySize - 16 }, null, out _, out QueueElementError? e1));
        Assert.Equal(QueueElementErrorKind.DescriptorTableUnmapped, e1.Kind);
        Assert.False(QueueElement.TryRead(ring.Memory, s with { VringAvail = ulong.MaxValue - 1 }, null, out _, out QueueElementError? e2));
        Assert.Equal(QueueElementErrorKind.AvailRingUnmapped, e2.Kind);
        Assert.False(QueueElement.TryRead(ring.Memory, s with { VringUsed = RingPlacement.Small.MemorySize }, null, out _, out QueueElementError? e3));
        Assert.Equal(QueueElementErrorKind.UsedRingUnmapped, e3.Kind);
        Assert.False(QueueElement.TryRead(ring.Memory, s with { VringNum = 100 }, null, out _, out QueueElementError? e4));
        Assert.Equal(QueueElementErrorKind.InvalidQueueSize, e4.Kind);
    }
}
