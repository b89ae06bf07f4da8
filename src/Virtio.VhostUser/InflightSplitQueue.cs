using System.Buffers.Binary;

namespace Virtio.VhostUser;

/// <summary>
/// One split queue's record in the vhost-user inflight region (vhost-user.rst "Inflight I/O tracking", split layout):
/// a 16-byte header (features u64, version u16, desc_num u16, last_batch_head u16, used_idx u16) and one 16-byte
/// state per descriptor (inflight u8, padding[5], next u16, counter u64). The back-end marks a head in flight when it
/// pops it and clears it when it pushes it; after a reconnect the heads still marked are resubmitted, oldest first.
/// </summary>
/// <remarks>
/// The region comes from the front-end, which survives the back-end: every value read from it is checked
/// (<see cref="Recover"/>) before it is used. <see cref="InflightQueueLog"/> calls these from the ring's worker.
/// </remarks>
internal static class InflightSplitQueue
{
    /// <summary>The layout version this back-end writes (libvhost-user's INFLIGHT_VERSION).</summary>
    public const ushort Version = 1;

    private const int HeaderBytes = 16;
    private const int DescStateBytes = 16;
    private const int Alignment = 64;
    private const int VersionOffset = 8;
    private const int DescNumOffset = 10;
    private const int LastBatchHeadOffset = 12;
    private const int UsedIdxOffset = 14;
    private const int NextOffset = 6;

    /// <summary>
    /// Bytes one queue of <paramref name="queueSize"/> descriptors takes, rounded up to 64 as DPDK and libvhost-user
    /// place queues; the region holds num_queues of them back to back.
    /// </summary>
    public static int RegionSize(int queueSize)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(queueSize);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(queueSize, 32768);
        return (HeaderBytes + (DescStateBytes * queueSize) + Alignment - 1) & ~(Alignment - 1);
    }

    /// <summary>Marks <paramref name="head"/> popped, in pop order <paramref name="counter"/> (vu_queue_inflight_get).</summary>
    public static void Get(Span<byte> queue, ushort head, ulong counter)
    {
        Span<byte> desc = Desc(queue, head);
        BinaryPrimitives.WriteUInt64LittleEndian(desc[8..], counter);
        // The counter must be in place before the flag that makes it count.
        Interlocked.MemoryBarrier();
        desc[0] = 1;
    }

    /// <summary>Forgets <paramref name="head"/>: it went back to the available ring unserved (a rewind).</summary>
    public static void Discard(Span<byte> queue, ushort head) => Desc(queue, head)[0] = 0;

    /// <summary>
    /// Records <paramref name="heads"/> as the batch about to be published (the doc's steps 1 to 3: each head's next
    /// is the previous <c>last_batch_head</c>, and becomes it), so that if the back-end dies once used->idx covers them,
    /// recovery walks this list and knows the guest has them. libvhost-user's vu_queue_inflight_pre_put, for batches.
    /// </summary>
    public static void Publishing(Span<byte> queue, ReadOnlySpan<ushort> heads)
    {
        ushort last = BinaryPrimitives.ReadUInt16LittleEndian(queue[LastBatchHeadOffset..]);
        foreach (ushort head in heads)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(Desc(queue, head)[NextOffset..], last);
            last = head;
        }

        BinaryPrimitives.WriteUInt16LittleEndian(queue[LastBatchHeadOffset..], last);
    }

    /// <summary>
    /// Clears <paramref name="heads"/> once used->idx became <paramref name="usedIdx"/> and records that index
    /// (vu_queue_inflight_post_put): flags first, so a region whose used_idx matches the ring has no stale flag.
    /// </summary>
    public static void Published(Span<byte> queue, ReadOnlySpan<ushort> heads, ushort usedIdx)
    {
        foreach (ushort head in heads)
        {
            Desc(queue, head)[0] = 0;
        }

        Interlocked.MemoryBarrier();
        BinaryPrimitives.WriteUInt16LittleEndian(queue[UsedIdxOffset..], usedIdx);
    }

    /// <summary>
    /// After a (re)connect: a fresh region (version 0) is initialised for <paramref name="queueSize"/> and nothing is
    /// resubmitted; otherwise the heads still in flight are written to <paramref name="heads"/> oldest first (mirrors
    /// vu_check_queue_inflights). <paramref name="guestUsedIdx"/> is used->idx read from the ring: when it is ahead of
    /// the recorded used_idx by n, the back-end died after publishing a batch of n and before clearing it, so the n
    /// heads of the batch list from last_batch_head are complete, not owed.
    /// </summary>
    /// <returns>How many heads to resubmit, and the counter to continue from; an error text when the region is invalid.</returns>
    public static (int Count, ulong NextCounter, string? Error) Recover(Span<byte> queue, int queueSize, ushort guestUsedIdx, Span<ushort> heads)
    {
        if (queue.Length < RegionSize(queueSize) || heads.Length < queueSize)
        {
            return (0, 0, $"inflight queue record of {queue.Length} bytes is too small for {queueSize} descriptors");
        }

        ushort version = BinaryPrimitives.ReadUInt16LittleEndian(queue[VersionOffset..]);
        if (version == 0)
        {
            queue[..RegionSize(queueSize)].Clear();
            BinaryPrimitives.WriteUInt16LittleEndian(queue[DescNumOffset..], (ushort)queueSize);
            Interlocked.MemoryBarrier();
            BinaryPrimitives.WriteUInt16LittleEndian(queue[VersionOffset..], Version);
            return (0, 1, null);
        }

        ushort descNum = BinaryPrimitives.ReadUInt16LittleEndian(queue[DescNumOffset..]);
        if (version != Version || descNum != (ushort)queueSize)
        {
            return (0, 0, $"inflight queue record has version {version} and {descNum} descriptors, expected {Version} and {queueSize}");
        }

        ushort recordedUsedIdx = BinaryPrimitives.ReadUInt16LittleEndian(queue[UsedIdxOffset..]);
        if (recordedUsedIdx != guestUsedIdx)
        {
            // Died after used->idx published the last batch and before its flags were cleared: walk the batch list
            // from last_batch_head and clear them, trusting no index in it.
            int batch = (ushort)(guestUsedIdx - recordedUsedIdx);
            if (batch > queueSize)
            {
                return (0, 0, $"used->idx {guestUsedIdx} is {batch} entries ahead of the inflight used_idx {recordedUsedIdx}, more than the queue size {queueSize}");
            }

            ushort head = BinaryPrimitives.ReadUInt16LittleEndian(queue[LastBatchHeadOffset..]);
            for (int i = 0; i < batch; i++)
            {
                if (head >= queueSize)
                {
                    return (0, 0, $"inflight last batch entry {i} names head {head}, not below the queue size {queueSize}");
                }

                Span<byte> desc = Desc(queue, head);
                desc[0] = 0;
                head = BinaryPrimitives.ReadUInt16LittleEndian(desc[NextOffset..]);
            }

            Interlocked.MemoryBarrier();
            BinaryPrimitives.WriteUInt16LittleEndian(queue[UsedIdxOffset..], guestUsedIdx);
        }

        int count = 0;
        ulong maxCounter = 0;
        for (int head = 0; head < queueSize; head++)
        {
            Span<byte> desc = Desc(queue, (ushort)head);
            if (desc[0] > 1)
            {
                return (0, 0, $"inflight flag {desc[0]} of head {head} is neither 0 nor 1");
            }

            if (desc[0] == 1)
            {
                heads[count++] = (ushort)head;
                maxCounter = Math.Max(maxCounter, BinaryPrimitives.ReadUInt64LittleEndian(desc[8..]));
            }
        }

        // Oldest first, as the guest submitted them. Once per reconnect, not a hot path: the key array may allocate.
        var counters = new ulong[count];
        for (int i = 0; i < count; i++)
        {
            counters[i] = Counter(queue, heads[i]);
        }

        counters.AsSpan().Sort(heads[..count]);
        return (count, maxCounter + 1, null);
    }

    private static ulong Counter(Span<byte> queue, ushort head) => BinaryPrimitives.ReadUInt64LittleEndian(Desc(queue, head)[8..]);

    private static Span<byte> Desc(Span<byte> queue, ushort head) => queue.Slice(HeaderBytes + (head * DescStateBytes), DescStateBytes);
}
