using Virtio.Device;

namespace Virtio.Diagnostics;

/// <summary>
/// Feature and status bits decoded as QEMU 7.2's <c>qmp_decode_features</c> and <c>qmp_decode_status</c> print them
/// (<c>hw/virtio/virtio.c</c>): "NAME: description", in the reverse of QEMU's map order, because QEMU prepends each
/// match to its list.
/// </summary>
public static class VirtioFeatureNames
{
    // QEMU 7.2 virtio_transport_map, in map order.
    private static readonly (ulong Bit, string Text)[] Transports =
    [
        (1UL << 24, "VIRTIO_F_NOTIFY_ON_EMPTY: Notify when device runs out of avail. descs. on VQ"),
        (1UL << 27, "VIRTIO_F_ANY_LAYOUT: Device accepts arbitrary desc. layouts"),
        (VirtioFeature.Version1, "VIRTIO_F_VERSION_1: Device compliant for v1 spec (legacy)"),
        (VirtioFeature.AccessPlatform, "VIRTIO_F_IOMMU_PLATFORM: Device can be used on IOMMU platform"),
        (VirtioFeature.RingPacked, "VIRTIO_F_RING_PACKED: Device supports packed VQ layout"),
        (VirtioFeature.InOrder, "VIRTIO_F_IN_ORDER: Device uses buffers in same order as made available by driver"),
        (1UL << 36, "VIRTIO_F_ORDER_PLATFORM: Memory accesses ordered by platform"),
        (1UL << 37, "VIRTIO_F_SR_IOV: Device supports single root I/O virtualization"),
        (VirtioFeature.RingIndirectDesc, "VIRTIO_RING_F_INDIRECT_DESC: Indirect descriptors supported"),
        (VirtioFeature.RingEventIdx, "VIRTIO_RING_F_EVENT_IDX: Used & avail. event fields enabled"),
    ];

    // QEMU 7.2 virtio_blk_feature_map, in map order (the legacy entries included, as QEMU builds them).
    private static readonly (ulong Bit, string Text)[] Block =
    [
        (1UL << 1, "VIRTIO_BLK_F_SIZE_MAX: Max segment size is size_max"),
        (1UL << 2, "VIRTIO_BLK_F_SEG_MAX: Max segments in a request is seg_max"),
        (1UL << 4, "VIRTIO_BLK_F_GEOMETRY: Legacy geometry available"),
        (1UL << 5, "VIRTIO_BLK_F_RO: Device is read-only"),
        (1UL << 6, "VIRTIO_BLK_F_BLK_SIZE: Block size of disk available"),
        (1UL << 10, "VIRTIO_BLK_F_TOPOLOGY: Topology information available"),
        (1UL << 12, "VIRTIO_BLK_F_MQ: Multiqueue supported"),
        (1UL << 13, "VIRTIO_BLK_F_DISCARD: Discard command supported"),
        (1UL << 14, "VIRTIO_BLK_F_WRITE_ZEROES: Write zeroes command supported"),
        (1UL << 0, "VIRTIO_BLK_F_BARRIER: Request barriers supported"),
        (1UL << 7, "VIRTIO_BLK_F_SCSI: SCSI packet commands supported"),
        (1UL << 9, "VIRTIO_BLK_F_FLUSH: Flush command supported"),
        (1UL << 11, "VIRTIO_BLK_F_CONFIG_WCE: Cache writeback and writethrough modes supported"),
        (1UL << 26, "VHOST_F_LOG_ALL: Logging write descriptors supported"),
        (1UL << 30, "VHOST_USER_F_PROTOCOL_FEATURES: Vhost-user protocol features negotiation supported"),
    ];

    // QEMU virtio_net_feature_map, in map order, without the entries QEMU added after 7.2 (NOTF_COAL, USO).
    private static readonly (ulong Bit, string Text)[] Net =
    [
        (1UL << 0, "VIRTIO_NET_F_CSUM: Device handling packets with partial checksum supported"),
        (1UL << 1, "VIRTIO_NET_F_GUEST_CSUM: Driver handling packets with partial checksum supported"),
        (1UL << 2, "VIRTIO_NET_F_CTRL_GUEST_OFFLOADS: Control channel offloading reconfig. supported"),
        (1UL << 3, "VIRTIO_NET_F_MTU: Device max MTU reporting supported"),
        (1UL << 5, "VIRTIO_NET_F_MAC: Device has given MAC address"),
        (1UL << 7, "VIRTIO_NET_F_GUEST_TSO4: Driver can receive TSOv4"),
        (1UL << 8, "VIRTIO_NET_F_GUEST_TSO6: Driver can receive TSOv6"),
        (1UL << 9, "VIRTIO_NET_F_GUEST_ECN: Driver can receive TSO with ECN"),
        (1UL << 10, "VIRTIO_NET_F_GUEST_UFO: Driver can receive UFO"),
        (1UL << 11, "VIRTIO_NET_F_HOST_TSO4: Device can receive TSOv4"),
        (1UL << 12, "VIRTIO_NET_F_HOST_TSO6: Device can receive TSOv6"),
        (1UL << 13, "VIRTIO_NET_F_HOST_ECN: Device can receive TSO with ECN"),
        (1UL << 14, "VIRTIO_NET_F_HOST_UFO: Device can receive UFO"),
        (1UL << 15, "VIRTIO_NET_F_MRG_RXBUF: Driver can merge receive buffers"),
        (1UL << 16, "VIRTIO_NET_F_STATUS: Configuration status field available"),
        (1UL << 17, "VIRTIO_NET_F_CTRL_VQ: Control channel available"),
        (1UL << 18, "VIRTIO_NET_F_CTRL_RX: Control channel RX mode supported"),
        (1UL << 19, "VIRTIO_NET_F_CTRL_VLAN: Control channel VLAN filtering supported"),
        (1UL << 20, "VIRTIO_NET_F_CTRL_RX_EXTRA: Extra RX mode control supported"),
        (1UL << 21, "VIRTIO_NET_F_GUEST_ANNOUNCE: Driver sending gratuitous packets supported"),
        (1UL << 22, "VIRTIO_NET_F_MQ: Multiqueue with automatic receive steering supported"),
        (1UL << 23, "VIRTIO_NET_F_CTRL_MAC_ADDR: MAC address set through control channel"),
        (1UL << 57, "VIRTIO_NET_F_HASH_REPORT: Hash reporting supported"),
        (1UL << 60, "VIRTIO_NET_F_RSS: RSS RX steering supported"),
        (1UL << 61, "VIRTIO_NET_F_RSC_EXT: Extended coalescing info supported"),
        (1UL << 62, "VIRTIO_NET_F_STANDBY: Device acting as standby for primary device with same MAC addr. supported"),
        (1UL << 63, "VIRTIO_NET_F_SPEED_DUPLEX: Device set linkspeed and duplex"),
        (1UL << 6, "VIRTIO_NET_F_GSO: Handling GSO-type packets supported"),
        (1UL << 27, "VHOST_NET_F_VIRTIO_NET_HDR: Virtio-net headers for RX and TX packets supported"),
        (1UL << 26, "VHOST_F_LOG_ALL: Logging write descriptors supported"),
        (1UL << 30, "VHOST_USER_F_PROTOCOL_FEATURES: Vhost-user protocol features negotiation supported"),
    ];

    // QEMU 7.2 virtio_config_status_map, in map order.
    private static readonly (DeviceStatus Bit, string Text)[] Statuses =
    [
        (DeviceStatus.DriverOk, "VIRTIO_CONFIG_S_DRIVER_OK: Driver setup and ready"),
        (DeviceStatus.FeaturesOk, "VIRTIO_CONFIG_S_FEATURES_OK: Feature negotiation complete"),
        (DeviceStatus.Driver, "VIRTIO_CONFIG_S_DRIVER: Guest OS compatible with device"),
        (DeviceStatus.DeviceNeedsReset, "VIRTIO_CONFIG_S_NEEDS_RESET: Irrecoverable error, device needs reset"),
        (DeviceStatus.Failed, "VIRTIO_CONFIG_S_FAILED: Error in guest, device failed"),
        (DeviceStatus.Acknowledge, "VIRTIO_CONFIG_S_ACKNOWLEDGE: Valid virtio device found"),
    ];

    /// <summary>Decodes <paramref name="features"/> of a device with ID <paramref name="deviceId"/>, as QEMU's <c>qmp_decode_features</c>.</summary>
    public static VirtioFeatureSet Decode(uint deviceId, ulong features)
    {
        (ulong Bit, string Text)[] device = deviceId switch
        {
            1 => Net,
            2 => Block,
            _ => [],
        };
        ulong known = 0;
        List<string> transports = Take(Transports, features, ref known);
        List<string> dev = Take(device, features, ref known);
        ulong unknown = features & ~known;
        return new VirtioFeatureSet(transports, dev) { UnknownDevFeatures = unknown == 0 ? null : unknown };
    }

    /// <summary>Decodes a status byte, as QEMU's <c>qmp_decode_status</c>.</summary>
    public static IReadOnlyList<string> DecodeStatus(DeviceStatus status)
    {
        var list = new List<string>();
        foreach ((DeviceStatus bit, string text) in Statuses)
        {
            if ((status & bit) != 0)
            {
                list.Insert(0, text);
            }
        }

        return list;
    }

    private static List<string> Take((ulong Bit, string Text)[] map, ulong features, ref ulong known)
    {
        var list = new List<string>();
        foreach ((ulong bit, string text) in map)
        {
            if ((features & bit) != 0)
            {
                list.Insert(0, text);
                known |= bit;
            }
        }

        return list;
    }
}
