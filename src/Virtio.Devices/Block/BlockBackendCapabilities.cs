namespace Virtio.Devices.Block;

/// <summary>Optional operations of an <see cref="IBlockBackend"/>; the device offers the matching feature bits.</summary>
[Flags]
public enum BlockBackendCapabilities
{
    /// <summary>Only reads and writes.</summary>
    None = 0,

    /// <summary><see cref="BlockIoKind.Flush"/> makes completed writes durable (VIRTIO_BLK_F_FLUSH).</summary>
    Flush = 1,

    /// <summary><see cref="BlockIoKind.Discard"/> (VIRTIO_BLK_F_DISCARD).</summary>
    Discard = 2,

    /// <summary><see cref="BlockIoKind.WriteZeroes"/> (VIRTIO_BLK_F_WRITE_ZEROES).</summary>
    WriteZeroes = 4,
}
