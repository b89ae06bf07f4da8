namespace Virtio.Devices.Block;

/// <summary>How a backend finished a request; the device turns it into the virtio-blk status byte.</summary>
public enum BlockIoStatus : byte
{
    /// <summary>Done (VIRTIO_BLK_S_OK).</summary>
    Ok = 0,

    /// <summary>The host I/O failed: EIO, ENOSPC, ... (VIRTIO_BLK_S_IOERR).</summary>
    IoError = 1,

    /// <summary>The backend does not implement this operation (VIRTIO_BLK_S_UNSUPP).</summary>
    Unsupported = 2,
}
