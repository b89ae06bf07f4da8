namespace Virtio.Driver;

/// <summary>What <see cref="DriverQueue{TToken}.Add"/> did (Linux's <c>virtqueue_add_sgs</c> return value).</summary>
public enum AddResult
{
    /// <summary>The buffer was made available (0).</summary>
    Added = 0,

    /// <summary>Not enough free descriptors (<c>-ENOSPC</c>): reclaim used buffers and retry.</summary>
    NoSpace,

    /// <summary>The queue is broken (<c>-EIO</c>).</summary>
    Broken,
}
