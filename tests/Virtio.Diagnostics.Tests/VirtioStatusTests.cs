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
    public void Net_features_decode_with_qemus_names_in_reverse_map_order()
    {
        ulong bits = (1UL << 5) | (1UL << 15) | (1UL << 16) | (1UL << 17) | (1UL << 63) | VirtioFeature.Version1 | (1UL << 53);
        VirtioFeatureSet decoded = VirtioFeatureNames.Decode(1, bits);
        Assert.Equal(
            [
                "VIRTIO_NET_F_SPEED_DUPLEX: Device set linkspeed and duplex",
                "VIRTIO_NET_F_CTRL_VQ: Control channel available",
                "VIRTIO_NET_F_STATUS: Configuration status field available",
                "VIRTIO_NET_F_MRG_RXBUF: Driver can merge receive buffers",
                "VIRTIO_NET_F_MAC: Device has given MAC address",
            ],
            decoded.DevFeatures);
        Assert.Equal(["VIRTIO_F_VERSION_1: Device compliant for v1 spec (legacy)"], decoded.Transports);
        Assert.Equal(1UL << 53, decoded.UnknownDevFeatures); // NOTF_COAL: named only after QEMU 7.2
    }

    [Fact]
    public void Legacy_blk_bits_decode_instead_of_counting_as_unknown()
    {
        VirtioFeatureSet decoded = VirtioFeatureNames.Decode(2, 1UL | (1UL << 7) | (1UL << 26));
        Assert.Equal(
            [
                "VHOST_F_LOG_ALL: Logging write descriptors supported",
                "VIRTIO_BLK_F_SCSI: SCSI packet commands supported",
                "VIRTIO_BLK_F_BARRIER: Request barriers supported",
            ],
            decoded.DevFeatures);
        Assert.Null(decoded.UnknownDevFeatures);
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
