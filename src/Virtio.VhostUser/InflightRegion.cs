using Virtio.VhostUser.Interop;

namespace Virtio.VhostUser;

/// <summary>
/// The shared inflight region of one connection (vhost-user.rst "Inflight I/O tracking"): a memfd the back-end
/// creates for GET_INFLIGHT_FD, or the one the front-end hands back with SET_INFLIGHT_FD after a reconnect, mapped
/// MAP_SHARED. Owns the descriptor and the mapping.
/// </summary>
internal sealed class InflightRegion : IDisposable
{
    private readonly FileDescriptor _fd;
    private readonly nint _mapping;
    private readonly ulong _length;

    private InflightRegion(FileDescriptor fd, nint mapping, ulong length, InflightRequest request)
    {
        _fd = fd;
        _mapping = mapping;
        _length = length;
        Request = request;
    }

    /// <summary>The sizes the region serves.</summary>
    public InflightRequest Request { get; }

    /// <summary>The descriptor to send back with GET_INFLIGHT_FD.</summary>
    public FileDescriptor Fd => _fd;

    /// <summary>A zeroed region for <paramref name="ask"/>'s queues (GET_INFLIGHT_FD); the front-end keeps its fd.</summary>
    public static InflightRegion Create(InflightRequest ask)
    {
        ulong size = (ulong)ask.NumQueues * ask.QueueRegionBytes;
        FileDescriptor fd = SharedMemory.CreateMemfd("vhost-user-inflight", size);
        nint mapping = SharedMemory.TryMap(fd.Value, size, out int errno);
        if (mapping == 0)
        {
            fd.Dispose();
            throw new IOException($"mmap of the {size}-byte inflight region failed: {Libc.ErrorText(errno)}");
        }

        return new InflightRegion(fd, mapping, size, ask with { MmapSize = size, MmapOffset = 0 });
    }

    /// <summary>Maps the region SET_INFLIGHT_FD names, taking <paramref name="fd"/>; null with the reason when it cannot.</summary>
    public static InflightRegion? TryMap(FileDescriptor fd, InflightRequest request, out string? error)
    {
        // Map from offset 0 and step in, as the memory regions are; the file must cover all of it (SIGBUS otherwise).
        ulong length = request.MmapOffset + request.MmapSize;
        long fileSize = SharedMemory.FileSize(fd.Value);
        if (fileSize < 0 || (ulong)fileSize < length)
        {
            error = $"SET_INFLIGHT_FD: the region needs {length} bytes of its file, which has {fileSize}";
            fd.Dispose();
            return null;
        }

        nint mapping = SharedMemory.TryMap(fd.Value, length, out int errno);
        if (mapping == 0)
        {
            error = $"SET_INFLIGHT_FD: mmap of {length} bytes failed: {Libc.ErrorText(errno)}";
            fd.Dispose();
            return null;
        }

        error = null;
        return new InflightRegion(fd, mapping, length, request);
    }

    /// <summary>A log of queue <paramref name="index"/>'s record, its counter continuing from <paramref name="nextCounter"/>.</summary>
    public InflightQueueLog QueueLog(int index, ulong nextCounter)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, Request.NumQueues);
        ulong offset = Request.MmapOffset + ((ulong)index * Request.QueueRegionBytes);
        return new InflightQueueLog(_mapping + (nint)offset, (int)Request.QueueRegionBytes, nextCounter);
    }

    /// <summary>Queue <paramref name="index"/>'s record; valid while the region is mapped.</summary>
    public Span<byte> Queue(int index) => QueueLog(index, 0).Queue;

    /// <summary>Unmaps the region and closes its descriptor.</summary>
    public void Dispose()
    {
        SharedMemory.Unmap(_mapping, _length);
        _fd.Dispose();
    }
}
