namespace Virtio.Devices.Block;

/// <summary>virtio-blk feature bits (VIRTIO 1.x section 5.2.3), as masks.</summary>
public static class VirtioBlkFeature
{
    /// <summary>VIRTIO_BLK_F_SIZE_MAX: <c>size_max</c> limits one segment.</summary>
    public const ulong SizeMax = 1UL << 1;

    /// <summary>VIRTIO_BLK_F_SEG_MAX: <c>seg_max</c> limits data segments per request.</summary>
    public const ulong SegMax = 1UL << 2;

    /// <summary>VIRTIO_BLK_F_GEOMETRY.</summary>
    public const ulong Geometry = 1UL << 4;

    /// <summary>VIRTIO_BLK_F_RO: the disk is read-only.</summary>
    public const ulong ReadOnly = 1UL << 5;

    /// <summary>VIRTIO_BLK_F_BLK_SIZE: <c>blk_size</c> is the logical block size.</summary>
    public const ulong BlockSize = 1UL << 6;

    /// <summary>VIRTIO_BLK_F_FLUSH: the FLUSH command.</summary>
    public const ulong Flush = 1UL << 9;

    /// <summary>VIRTIO_BLK_F_TOPOLOGY.</summary>
    public const ulong Topology = 1UL << 10;

    /// <summary>VIRTIO_BLK_F_CONFIG_WCE: the driver may switch the cache between writeback and writethrough.</summary>
    public const ulong ConfigWce = 1UL << 11;

    /// <summary>VIRTIO_BLK_F_MQ: <c>num_queues</c> request queues.</summary>
    public const ulong MultiQueue = 1UL << 12;

    /// <summary>VIRTIO_BLK_F_DISCARD.</summary>
    public const ulong Discard = 1UL << 13;

    /// <summary>VIRTIO_BLK_F_WRITE_ZEROES.</summary>
    public const ulong WriteZeroes = 1UL << 14;
}
