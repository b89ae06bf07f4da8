namespace Virtio.Devices.Block;

/// <summary>
/// Where a virtio-blk device keeps its bytes. The device parses and validates every request against
/// <see cref="Capacity"/>, the config limits and <see cref="IsReadOnly"/> before it reaches the backend, so a backend
/// only sees ranges inside the disk.
/// </summary>
/// <remarks>
/// Threading: <see cref="Submit"/> may be called from several queue workers at once (multiqueue). A request may be
/// completed inline, before <see cref="Submit"/> returns, or later from any thread, and requests may complete in
/// any order. The device acknowledges a request to the driver only when the backend completes it.
/// </remarks>
public interface IBlockBackend : IDisposable
{
    /// <summary>Size of the disk in bytes, a multiple of 512.</summary>
    ulong Capacity { get; }

    /// <summary>True when writes, discards and write-zeroes are refused (VIRTIO_BLK_F_RO).</summary>
    bool IsReadOnly { get; }

    /// <summary>The optional operations this backend implements.</summary>
    BlockBackendCapabilities Capabilities { get; }

    /// <summary>
    /// Starts one request. The backend must call <see cref="BlockIo.Complete"/> exactly once, inline or later, and
    /// must not touch the request's segments after that. It must not throw for an I/O failure: it completes the request
    /// with <see cref="BlockIoStatus.IoError"/> instead.
    /// </summary>
    void Submit(BlockIo request);
}
