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

    /// <summary>
    /// Makes every write completed so far durable, outside any request: what the device's owner calls when it shuts
    /// down, after the rings have stopped (QEMU flushes a block backend the same way in <c>bdrv_close</c>). The default
    /// does nothing, for backends with nothing to make durable. Must not throw for an I/O failure.
    /// </summary>
    /// <returns><see cref="BlockIoStatus.Ok"/>, or <see cref="BlockIoStatus.IoError"/> when the data may not be durable.</returns>
    BlockIoStatus Flush() => BlockIoStatus.Ok;
}
