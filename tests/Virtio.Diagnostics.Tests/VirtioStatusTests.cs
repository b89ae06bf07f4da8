using System.Text.Json;
using Virtio.Device;
using Virtio.Diagnostics.Tests.Support;

namespace Virtio.Diagnostics.Tests;

public sealed class VirtioStatusTests
{
    [Fact]
    public void Features_decode_as_qemu_7_2_prints_them()
    {
        // The guest features of the real reply: blk SEG_MAX, GEOMETRY, BLK_SIZE, TOPOLOGY, FLUSH, CONFIG_WCE, DISCARD,
        // WRITE_ZEROES, INDIRECT_DESC, EVENT_IDX, VERSION_1, and bit 40 (RING_RESET, which QEMU 7.2 does not name).
        ulong bits = (1UL << 2) | (1UL << 4) | (1UL << 6) | (1UL << 10) | (1UL << 9) | (1UL << 11) | (1UL << 13) | (1UL << 14)
            | VirtioFeature.RingIndirectDesc | VirtioFeature.RingEventIdx | VirtioFeature.Version1 | (1UL << 40);
        VirtioFeatureSet decoded = VirtioFeatureNames.Decode(2, bits);

        using JsonDocument reference = JsonDocument.Parse(Reference.VirtioStatusJson);
        JsonElement guest = reference.RootElement.GetProperty("return").GetProperty("guest-features");
        Assert.Equal(guest.GetProperty("transports").EnumerateArray().Select(e => e.GetString()), decoded.Transports);
        Assert.Equal(guest.GetProperty("dev-features").EnumerateArray().Select(e => e.GetString()), decoded.DevFeatures);
        Assert.Equal(guest.GetProperty("unknown-dev-features").GetUInt64(), decoded.UnknownDevFeatures);
    }

    [Fact]
    public void Status_decodes_in_qemu_order()
    {
        using JsonDocument reference = JsonDocument.Parse(Reference.VirtioStatusJson);
        JsonElement statuses = reference.RootElement.GetProperty("return").GetProperty("status").GetProperty("statuses");
        IReadOnlyList<string> decoded = VirtioFeatureNames.DecodeStatus(DeviceStatus.Acknowledge | DeviceStatus.Driver | DeviceStatus.FeaturesOk | DeviceStatus.DriverOk);
        Assert.Equal(statuses.EnumerateArray().Select(e => e.GetString()), decoded);
    }
}
