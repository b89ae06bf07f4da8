namespace Virtio.Device;

/// <summary>Device-independent feature bits (VIRTIO 1.x section 6), as masks over the 64-bit feature set.</summary>
public static class VirtioFeature
{
    /// <summary>VIRTIO_RING_F_INDIRECT_DESC (28): the driver may use indirect descriptor tables.</summary>
    public const ulong RingIndirectDesc = 1UL << 28;

    /// <summary>VIRTIO_RING_F_EVENT_IDX (29): <c>used_event</c> and <c>avail_event</c> suppress notifications.</summary>
    public const ulong RingEventIdx = 1UL << 29;

    /// <summary>VIRTIO_F_VERSION_1 (32): a VIRTIO 1.x (non-legacy) device; required by this library.</summary>
    public const ulong Version1 = 1UL << 32;

    /// <summary>VIRTIO_F_ACCESS_PLATFORM (33).</summary>
    public const ulong AccessPlatform = 1UL << 33;

    /// <summary>VIRTIO_F_RING_PACKED (34).</summary>
    public const ulong RingPacked = 1UL << 34;

    /// <summary>VIRTIO_F_IN_ORDER (35).</summary>
    public const ulong InOrder = 1UL << 35;

    /// <summary>VIRTIO_F_NOTIFICATION_DATA (38).</summary>
    public const ulong NotificationData = 1UL << 38;

    /// <summary>VIRTIO_F_RING_RESET (40).</summary>
    public const ulong RingReset = 1UL << 40;
}
