using System.Buffers.Binary;

namespace Virtio.VhostUser;

/// <summary>
/// The payload of GET_INFLIGHT_FD and SET_INFLIGHT_FD (vhost-user.rst "Inflight description": mmap_size u64,
/// mmap_offset u64, num_queues u16, queue_size u16; QEMU sends 24 bytes with its padding), checked before the
/// back-end creates or maps anything for it.
/// </summary>
internal readonly record struct InflightRequest(ulong MmapSize, ulong MmapOffset, int NumQueues, int QueueSize)
{
    /// <summary>The bytes that carry fields; QEMU's struct pads them to 24.</summary>
    public const int PayloadBytes = 20;

    /// <summary>Bytes every queue's record takes in the region.</summary>
    public ulong QueueRegionBytes => (ulong)InflightSplitQueue.RegionSize(QueueSize);

    /// <summary>
    /// Parses and checks a request. GET_INFLIGHT_FD (<paramref name="set"/> false) carries no fd and its sizes are the
    /// front-end's ask; SET_INFLIGHT_FD carries exactly one fd and a region large enough for every queue's record.
    /// </summary>
    /// <returns>Null when valid; otherwise the rule the front-end broke, with the numbers.</returns>
    public static string? TryParse(ReadOnlySpan<byte> payload, int fdCount, bool set, int maxQueues, out InflightRequest request)
    {
        request = default;
        string name = set ? "SET_INFLIGHT_FD" : "GET_INFLIGHT_FD";
        if (payload.Length < PayloadBytes)
        {
            return $"{name}: payload of {payload.Length} bytes, need {PayloadBytes}";
        }

        if (fdCount != (set ? 1 : 0))
        {
            return $"{name}: {fdCount} file descriptors, expected {(set ? 1 : 0)}";
        }

        ulong size = BinaryPrimitives.ReadUInt64LittleEndian(payload);
        ulong offset = BinaryPrimitives.ReadUInt64LittleEndian(payload[8..]);
        int queues = BinaryPrimitives.ReadUInt16LittleEndian(payload[16..]);
        int queueSize = BinaryPrimitives.ReadUInt16LittleEndian(payload[18..]);
        if (queues == 0 || queues > maxQueues)
        {
            return $"{name}: num_queues {queues} is not from 1 to {maxQueues}";
        }

        // A u16 cannot say 32768's successor, so a power of two here is also within the largest split ring.
        if (queueSize == 0 || (queueSize & (queueSize - 1)) != 0)
        {
            return $"{name}: queue_size {queueSize} is not a power of two";
        }

        request = new InflightRequest(size, offset, queues, queueSize);
        if (!set)
        {
            return null;
        }

        ulong need = (ulong)queues * request.QueueRegionBytes;
        if (size < need)
        {
            return $"{name}: mmap_size {size} is smaller than the {need} bytes {queues} queues of {queueSize} need";
        }

        if (offset > ulong.MaxValue - size || offset % (ulong)Environment.SystemPageSize != 0)
        {
            return $"{name}: mmap_offset 0x{offset:x} with mmap_size {size} is not a page-aligned range of a file";
        }

        return null;
    }
}
