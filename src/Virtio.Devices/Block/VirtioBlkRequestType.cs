namespace Virtio.Devices.Block;

/// <summary>The <c>type</c> field of a virtio-blk request header (VIRTIO 1.x section 5.2.6).</summary>
public enum VirtioBlkRequestType : uint
{
    /// <summary>VIRTIO_BLK_T_IN: read.</summary>
    In = 0,

    /// <summary>VIRTIO_BLK_T_OUT: write.</summary>
    Out = 1,

    /// <summary>VIRTIO_BLK_T_FLUSH.</summary>
    Flush = 4,

    /// <summary>VIRTIO_BLK_T_GET_ID: the 20-byte serial.</summary>
    GetId = 8,

    /// <summary>VIRTIO_BLK_T_GET_LIFETIME (not supported: answered UNSUPP).</summary>
    GetLifetime = 10,

    /// <summary>VIRTIO_BLK_T_DISCARD.</summary>
    Discard = 11,

    /// <summary>VIRTIO_BLK_T_WRITE_ZEROES.</summary>
    WriteZeroes = 13,

    /// <summary>VIRTIO_BLK_T_SECURE_ERASE (not supported: answered UNSUPP).</summary>
    SecureErase = 14,
}
