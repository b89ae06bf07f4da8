using System.Diagnostics.Metrics;
using Virtio.Device;
using Virtio.Rings;

namespace Virtio.Devices.Net;

public sealed partial class VirtioNetDevice
{
    /// <summary>Rx chains completed together, as the tx burst (<see cref="TxBurst"/>).</summary>
    private const int RxBurst = TxBurst;

    private enum EnqueueResult
    {
        Accepted,
        Dropped,
        Refused,
    }

    private enum Placement
    {
        Delivered,
        Dropped,
        NoBuffers,
        Broken,
    }

    /// <summary>A frame from the backend: checked, filtered, queued, then the rx queue is kicked to place it.</summary>
    private EnqueueResult Enqueue(int pair, in VirtioNetHeader header, ReadOnlySpan<byte> frame, bool refuseWhenFull)
    {
        int active = Volatile.Read(ref _activePairs);
        pair = (uint)pair < (uint)active ? pair : (int)((uint)pair % (uint)active);
        NetDropReason? reason = frame.Length > MaxFrameLength ? NetDropReason.Oversize
            : frame.Length < MinFrameLength ? NetDropReason.Runt
            : !LinkIsUp ? NetDropReason.LinkDown
            : !_filter.Accepts(frame, _mac) ? NetDropReason.Filtered
            : null;
        if (reason is { } r)
        {
            CountDrop(r, pair, frame.Length);
            return EnqueueResult.Dropped;
        }

        NetRxBacklog backlog = _backlogs[pair];
        TxState tx = _tx[pair];
        bool own = tx.Transmitter == Environment.CurrentManagedThreadId; // looped back by this pair's own tx handler
        // The pair's own tx handler is one producer at a time (its queue's lock): its lane takes no compare-and-swap.
        bool queued = own ? backlog.TryEnqueueOwn(header, frame, remember: refuseWhenFull) : backlog.TryEnqueue(header, frame, remember: refuseWhenFull);
        if (!queued && own)
        {
            // This tx batch filled the backlog with frames waiting for its rx kick: place them now, then look again.
            Notify(RxIndex(pair));
            queued = backlog.TryEnqueueOwn(header, frame, remember: refuseWhenFull);
        }

        if (!queued)
        {
            if (refuseWhenFull)
            {
                return EnqueueResult.Refused;
            }

            CountDrop(NetDropReason.BacklogFull, pair, frame.Length);
            return EnqueueResult.Dropped;
        }

        if (own)
        {
            // Sent by this pair's own tx handler on this thread (loopback): one rx kick when the tx batch ends.
            tx.RxKickDeferred = true;
            return EnqueueResult.Accepted;
        }

        // A polled rx queue: the polling thread places it on its next round. The fence orders the slot's publication
        // before the read of Polled, against the poller's clear of Polled before its last run (see VirtioQueue.Polled).
        Interlocked.MemoryBarrier();
        if (Queues[RxIndex(pair)].Polled)
        {
            return EnqueueResult.Accepted;
        }

        // A self-kick: the rx handler places the frame under the queue's lock, here (inline) or on the rx worker.
        Notify(RxIndex(pair));
        return EnqueueResult.Accepted;
    }

    /// <summary>
    /// Runs the tx handler with the rx kicks for frames it loops back to its own pair deferred to its end, then kicks
    /// that rx queue once. (Thread-local state would do the same, but its lazily grown per-thread storage allocates
    /// when a thread first meets it in optimized code, mid-run.)
    /// </summary>
    private void TransmitBatch(VirtioQueue queue, int pair)
    {
        TxState state = _tx[pair];
        state.Transmitter = Environment.CurrentManagedThreadId; // the queue's lock is held: one handler per pair at a time
        try
        {
            HandleTx(queue, pair);
        }
        finally
        {
            state.Transmitter = 0;
            Publish(ref state.Sent, ref state.Total, ref _txPackets, ref _txBytes, _metrics.TxPackets, _metrics.TxBytes);
            if (state.RxKickDeferred)
            {
                state.RxKickDeferred = false;
                Notify(RxIndex(pair));
            }
        }
    }

    /// <summary>
    /// Places backlogged frames into rx buffers (QEMU's <c>virtio_net_receive_rcu</c> per queued packet); stops, with
    /// notifications on, when the driver has too few buffers, and resumes on its next kick.
    /// </summary>
    /// <remarks>
    /// Kicks follow QEMU's <c>virtio_net_has_buffers</c>: off while the driver has buffers posted (with EVENT_IDX the
    /// device then stops moving <c>avail_event</c>, so refills do not kick: frames arriving find the buffers through
    /// the backlog's own wake-up), on when a frame finds too few, with a re-check so a refill racing the switch is
    /// not lost.
    /// </remarks>
    private void HandleRx(VirtioQueue queue, int pair)
    {
        NetRxBacklog backlog = _backlogs[pair];
        RxState state = _rx[pair];
        bool dequeued = false;
        try
        {
            dequeued = PlaceBacklog(queue, pair, backlog);
        }
        finally
        {
            // Frames placed and not yet on the used ring go there now, whatever ended the run (an exception included:
            // a chain left in flight would hold up a reset for its whole drain timeout).
            CompletePlaced(queue, state);
        }

        Publish(ref state.Received, ref state.Total, ref _rxPackets, ref _rxBytes, _metrics.RxPackets, _metrics.RxBytes);
        if (dequeued && backlog.TakeRefusal())
        {
            _backend.ReceiveReady();
        }
    }

    /// <returns>True when at least one frame left the backlog.</returns>
    private bool PlaceBacklog(VirtioQueue queue, int pair, NetRxBacklog backlog)
    {
        bool dequeued = false;
        while (IsLive && backlog.TryPeek(out VirtioNetHeader header, out Span<byte> frame))
        {
            Placement placement = PrepareRxHeader(ref header, frame, pair)
                ? PlaceFrame(queue, pair, header, frame)
                : Placement.Dropped;
            if (placement == Placement.NoBuffers)
            {
                if (queue.Polled)
                {
                    backlog.SetHeadHeader(header); // the next poll round looks again: no kick asked for
                    break;
                }

                // virtio_net_has_buffers: ask for a kick, then look once more in case buffers came meanwhile.
                int had = queue.Ring.AvailableCount();
                queue.Ring.SetNotification(true);
                if (queue.Ring.AvailableCount() > had)
                {
                    backlog.SetHeadHeader(header);
                    continue;
                }

                backlog.SetHeadHeader(header); // keeps a checksum already completed from being completed twice
                break;
            }

            if (placement == Placement.Broken)
            {
                break;
            }

            if (placement == Placement.Delivered && queue.Ring.NotificationEnabled)
            {
                queue.Ring.SetNotification(false); // buffers were there: the driver need not kick for its refills
            }

            backlog.Dequeue();
            dequeued = true;
        }

        return dequeued;
    }

    /// <summary>
    /// Puts the frames placed in one-buffer chains on the used ring with one <c>used-&gt;idx</c> store, as DPDK's
    /// vhost enqueue burst does (QEMU's <c>virtio_net_receive_rcu</c> flushes per packet); the notification decision
    /// stays once per handler run.
    /// </summary>
    private static void CompletePlaced(VirtioQueue queue, RxState state)
    {
        int count = state.PlacedCount;
        if (count != 0)
        {
            state.PlacedCount = 0;
            queue.CompleteBatch(state.Placed.AsSpan(0, count), state.PlacedLengths.AsSpan(0, count));
        }
    }

    /// <summary>
    /// Fits the header to what the driver negotiated: a partial checksum is completed here without GUEST_CSUM (as a
    /// tap device does for a guest without the offload); a GSO frame the driver cannot take is dropped.
    /// </summary>
    private bool PrepareRxHeader(ref VirtioNetHeader header, Span<byte> frame, int pair)
    {
        NetGsoType gso = header.GsoType;
        if (gso != NetGsoType.None)
        {
            bool accepted = gso switch
            {
                NetGsoType.TcpV4 => HasFeature(NetFeature.GuestTso4),
                NetGsoType.TcpV6 => HasFeature(NetFeature.GuestTso6),
                _ => false, // UDP, UDP_L4 and ECN are never offered
            };
            if (!accepted)
            {
                CountDrop(NetDropReason.GsoNotNegotiated, pair, frame.Length);
                return false;
            }
        }

        if (HasFeature(NetFeature.GuestCsum))
        {
            header = header with { BufferCount = 0 };
            return true;
        }

        if ((header.Flags & NetHeaderFlags.NeedsCsum) != 0 && !NetChecksum.TryComplete(frame, header.ChecksumStart, header.ChecksumOffset))
        {
            CountDrop(NetDropReason.BadHeader, pair, frame.Length);
            return false;
        }

        header = new VirtioNetHeader(); // section 5.1.6.4.1: no flags or GSO for a driver without the offloads
        return true;
    }

    private Placement PlaceFrame(VirtioQueue queue, int pair, in VirtioNetHeader header, ReadOnlySpan<byte> frame)
    {
        uint need = (uint)(VirtioNetHeader.Size + frame.Length);
        RxState state = _rx[pair];

        // Popped straight into the next free slot of the placed frames (there is one: a full burst is completed at
        // once), so the common case does not copy the chain into it (a 48-byte struct with a GC reference).
        ref DescriptorChain first = ref state.Placed[state.PlacedCount];
        if (!queue.TryPop(out first))
        {
            return Placement.NoBuffers;
        }

        if (!CheckRxChain(queue, first, ReadOnlySpan<DescriptorChain>.Empty, pair, frame.Length, out Placement failed))
        {
            return failed;
        }

        if (first.WritableLength >= need)
        {
            // The common case: the frame fits the first buffer, num_buffers = 1; completed with the next ones.
            WriteHeaderAndFrame(state, first, header, 1, frame, frame.Length);
            int slot = state.PlacedCount++;
            state.PlacedLengths[slot] = need;
            if (slot + 1 == RxBurst)
            {
                CompletePlaced(queue, state);
            }

            state.Received.Count(frame.Length); // published once the handler run ends
            return Placement.Delivered;
        }

        if (!HasFeature(NetFeature.MrgRxBuf))
        {
            // virtio_net_receive_rcu: "truncated non-mergeable packet"; the buffer goes back for the next frame.
            queue.Unpop(first);
            CountDrop(NetDropReason.RxBufferTooSmall, pair, frame.Length);
            return Placement.Dropped;
        }

        CompletePlaced(queue, state); // the used ring keeps the frames in the order they were placed
        state.Chains[0] = first;
        int count = 1;
        ulong room = first.WritableLength;
        while (room < need)
        {
            if (!queue.TryPop(out DescriptorChain chain))
            {
                for (int i = count - 1; i >= 0; i--)
                {
                    queue.Unpop(state.Chains[i]);
                }

                return Placement.NoBuffers;
            }

            if (!CheckRxChain(queue, chain, state.Chains.AsSpan(0, count), pair, frame.Length, out failed))
            {
                return failed;
            }

            state.Chains[count++] = chain;
            room += chain.WritableLength;
        }

        int placed = (int)Math.Min(first.WritableLength - VirtioNetHeader.Size, (uint)frame.Length);
        WriteHeaderAndFrame(state, first, header, count, frame, placed);
        state.Lengths[0] = (uint)(VirtioNetHeader.Size + placed);
        for (int i = 1; i < count; i++)
        {
            ref readonly DescriptorChain chain = ref state.Chains[i];
            int n = (int)Math.Min(chain.WritableLength, (uint)(frame.Length - placed));
            chain.CopyToWritable(frame.Slice(placed, n));
            placed += n;
            state.Lengths[i] = (uint)n;
        }

        queue.CompleteBatch(state.Chains.AsSpan(0, count), state.Lengths.AsSpan(0, count));
        state.Received.Count(frame.Length);
        return Placement.Delivered;
    }

    /// <summary>
    /// Section 5.1.6.3.1: every rx buffer holds at least the header. A chain with no device-writable buffer is a device
    /// error, as in QEMU's <c>virtio_net_receive_rcu</c> ("contains no in buffers"); a writable chain too short for the
    /// header is given back unused (length 0, which Linux counts as an rx length error and refills) and the frame is
    /// dropped and counted, so one bad buffer costs one frame and the queue keeps working. Either way every chain
    /// popped for this frame is given back with it: none stays in flight.
    /// </summary>
    private bool CheckRxChain(VirtioQueue queue, in DescriptorChain chain, ReadOnlySpan<DescriptorChain> popped, int pair, int frameLength, out Placement failed)
    {
        failed = Placement.Delivered;
        if (chain.WritableLength >= VirtioNetHeader.Size)
        {
            return true;
        }

        if (chain.WritableCount == 0)
        {
            DeviceError(queue, chain, $"virtio-net receive queue contains no in buffers (chain {chain.Head} on queue {queue.Index})");
            failed = Placement.Broken;
        }
        else
        {
            queue.Complete(chain, 0);
            CountDrop(NetDropReason.RxBufferShorterThanHeader, pair, frameLength);
            failed = Placement.Dropped;
        }

        foreach (ref readonly DescriptorChain other in popped)
        {
            queue.Complete(other, 0);
        }

        return false;
    }

    /// <summary>The header, with <c>num_buffers</c>, then the first <paramref name="length"/> bytes of the frame, into the first rx buffer.</summary>
    private static void WriteHeaderAndFrame(RxState state, in DescriptorChain chain, in VirtioNetHeader header, int buffers, ReadOnlySpan<byte> frame, int length)
    {
        VirtioNetHeader rx = header with { BufferCount = (ushort)buffers };
        if (chain.TryGetSingleBuffer(out Span<byte> buffer))
        {
            // One buffer, checked to hold the header: written in place.
            rx.Write(buffer);
            frame[..length].CopyTo(buffer[VirtioNetHeader.Size..]);
            return;
        }

        Span<byte> head = state.Header;
        rx.Write(head);
        chain.CopyToWritable(head);
        chain.CopyToWritable(frame[..length], VirtioNetHeader.Size);
    }

    /// <summary>Per rx queue: the chains of the frame being placed (up to the queue size with MRG_RXBUF).</summary>
    private sealed class RxState(int queueSize)
    {
        public readonly DescriptorChain[] Chains = new DescriptorChain[queueSize];
        public readonly uint[] Lengths = new uint[queueSize];

        /// <summary>One-buffer chains filled in this handler run and not yet completed (see <see cref="CompletePlaced"/>).</summary>
        public readonly DescriptorChain[] Placed = new DescriptorChain[RxBurst];
        public readonly uint[] PlacedLengths = new uint[RxBurst];
        public int PlacedCount;

        /// <summary>The header written into a first rx buffer made of several descriptors.</summary>
        public readonly byte[] Header = new byte[VirtioNetHeader.Size];

        /// <summary>Frames placed in the current handler run (the handler owns it, under the queue's lock).</summary>
        public FrameTally Received;

        /// <summary>Frames placed since the device was created, published at the end of each run.</summary>
        public FrameTally Total;
    }

    /// <summary>Frames and bytes a handler run counted: published with one atomic add and one measurement per run, not per frame.</summary>
    private struct FrameTally
    {
        public long Packets;
        public long Bytes;

        public void Count(int length)
        {
            Packets++;
            Bytes += length;
        }
    }

    private void Publish(ref FrameTally tally, ref FrameTally total, ref long packets, ref long bytes, Counter<long> packetMetric, Counter<long> byteMetric)
    {
        if (tally.Packets == 0)
        {
            return;
        }

        Interlocked.Add(ref total.Packets, tally.Packets);
        Interlocked.Add(ref total.Bytes, tally.Bytes);
        Interlocked.Add(ref packets, tally.Packets);
        Interlocked.Add(ref bytes, tally.Bytes);
        packetMetric.Add(tally.Packets, _deviceTag);
        byteMetric.Add(tally.Bytes, _deviceTag);
        tally = default;
    }
}
