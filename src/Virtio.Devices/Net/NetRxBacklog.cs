namespace Virtio.Devices.Net;

/// <summary>
/// The frames of one queue pair waiting for rx buffers (QEMU keeps them in the peer's <c>NetQueue</c>): a bounded ring
/// of slots whose buffers grow to the largest frame seen and are then reused, so steady-state delivery allocates
/// nothing. Any thread enqueues; one consumer (the rx handler, under the rx queue's lock, or a reset with the handler
/// stopped) peeks and dequeues. No locks: a producer claims a slot with one compare-and-swap.
/// </summary>
/// <remarks>
/// <para>Each slot carries a sequence number (Vyukov's bounded queue): <c>pos</c> when free for the producer of
/// position <c>pos</c>, <c>pos + 1</c> once that producer has written it, <c>pos + capacity</c> once the consumer has
/// freed it for the next lap. Producers claim positions by advancing <c>tail</c> with a compare-and-swap, write the slot,
/// then publish it with a release store of its sequence; the consumer reads the sequence with an acquire load, so it
/// sees a frame only whole, and in claim order (a claimed slot not yet published stops it until the next kick, which
/// its producer sends after publishing).</para>
/// <para>A producer refused for want of room records it, fences, and looks again; the consumer, after freeing slots,
/// fences and reads the record (<see cref="TakeRefusal"/>): one of the two sees the other, so no refusal waits for a
/// wake-up that never comes.</para>
/// <para>Frames the pair's own tx handler loops back (<see cref="TryEnqueueOwn"/>) go to a second lane of the same
/// capacity with one producer at a time (the tx handler runs under its queue's lock): a plain index and a release
/// store, no compare-and-swap. The consumer takes that lane first. Each lane keeps its own order; frames of the two
/// lanes come from different threads, so no order between them existed to keep.</para>
/// </remarks>
internal sealed class NetRxBacklog
{
    private readonly Slot[] _slots;
    private readonly long _mask; // capacity - 1 for a power-of-two capacity, else -1 (index by division)
    private long _head; // the consumer's
    private long _tail; // the next position a producer claims
    private int _refused;
    private Slot[]? _own; // the own tx handler's lane, made at its first frame
    private long _ownHead; // the consumer's
    private long _ownTail; // the own producer's (one at a time)
    private bool _peekedOwn; // which lane the last TryPeek looked at

    public NetRxBacklog(int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacity);
        _slots = new Slot[capacity];
        _mask = (capacity & (capacity - 1)) == 0 ? capacity - 1 : -1;
        for (int i = 0; i < capacity; i++)
        {
            _slots[i] = new Slot { Sequence = i };
        }
    }

    /// <summary>Frames queued in both lanes (claimed slots included); a snapshot.</summary>
    public int Count => (int)Math.Max(0, Volatile.Read(ref _tail) - Volatile.Read(ref _head)) + (int)Math.Max(0, Volatile.Read(ref _ownTail) - Volatile.Read(ref _ownHead));

    /// <summary>
    /// Copies in a frame from the pair's own tx handler: one producer at a time (callers serialise, as the tx queue's
    /// lock does), no compare-and-swap. When the lane is full, returns false and, if <paramref name="remember"/>,
    /// records the refusal as <see cref="TryEnqueue"/> does.
    /// </summary>
    public bool TryEnqueueOwn(in VirtioNetHeader header, ReadOnlySpan<byte> frame, bool remember)
    {
        Slot[] lane = _own ??= NewLane(_slots.Length);
        long tail = _ownTail;
        if (tail - Volatile.Read(ref _ownHead) >= lane.Length)
        {
            if (!remember)
            {
                return false;
            }

            Interlocked.Exchange(ref _refused, 1); // full fence: the record is visible before we look again
            if (tail - Volatile.Read(ref _ownHead) >= lane.Length)
            {
                return false;
            }
        }

        Fill(lane[Index(tail)], header, frame);
        Volatile.Write(ref _ownTail, tail + 1); // publish: the frame is written before the consumer can see it
        return true;
    }

    /// <summary>Copies a frame in; when full, returns false and, if <paramref name="remember"/>, records the refusal.</summary>
    public bool TryEnqueue(in VirtioNetHeader header, ReadOnlySpan<byte> frame, bool remember)
    {
        long pos = Volatile.Read(ref _tail);
        Slot slot;
        while (true)
        {
            slot = _slots[Index(pos)];
            long lag = Volatile.Read(ref slot.Sequence) - pos;
            if (lag == 0)
            {
                long seen = Interlocked.CompareExchange(ref _tail, pos + 1, pos);
                if (seen == pos)
                {
                    break; // the slot is ours
                }

                pos = seen;
            }
            else if (lag < 0)
            {
                // The slot still holds the frame of the previous lap: full.
                if (!remember)
                {
                    return false;
                }

                Interlocked.Exchange(ref _refused, 1); // full fence: the record is visible before we look again
                if (Volatile.Read(ref slot.Sequence) - pos < 0)
                {
                    return false;
                }

                pos = Volatile.Read(ref _tail);
            }
            else
            {
                pos = Volatile.Read(ref _tail); // another producer took this position
            }
        }

        Fill(slot, header, frame);
        Volatile.Write(ref slot.Sequence, pos + 1); // publish: the frame is written before the consumer can see it
        return true;
    }

    /// <summary>
    /// The oldest frame of the own lane, else of the shared one; the slot stays untouched by producers until
    /// <see cref="Dequeue"/>.
    /// </summary>
    public bool TryPeek(out VirtioNetHeader header, out Span<byte> frame)
    {
        Slot slot;
        if (_ownHead != Volatile.Read(ref _ownTail))
        {
            // The acquire load of the tail makes the lane (made by the producer before its first publish) visible.
            slot = _own![Index(_ownHead)];
            _peekedOwn = true;
        }
        else
        {
            _peekedOwn = false;
            slot = _slots[Index(_head)];
            if (Volatile.Read(ref slot.Sequence) != _head + 1)
            {
                header = default;
                frame = default;
                return false; // empty, or its producer has not finished writing it
            }
        }

        header = slot.Header;
        frame = slot.Data.AsSpan(0, slot.Length);
        return true;
    }

    /// <summary>Replaces the header of the frame <see cref="TryPeek"/> returned (after the consumer completed its checksum).</summary>
    public void SetHeadHeader(in VirtioNetHeader header) => (_peekedOwn ? _own![Index(_ownHead)] : _slots[Index(_head)]).Header = header;

    /// <summary>Frees the slot of the frame <see cref="TryPeek"/> returned (consumer only, after a successful peek).</summary>
    public void Dequeue()
    {
        if (_peekedOwn)
        {
            Volatile.Write(ref _ownHead, _ownHead + 1); // the slot is read before its producer may write it again
            return;
        }

        long head = _head;
        Volatile.Write(ref _slots[Index(head)].Sequence, head + _slots.Length); // free for the next lap's producer
        Volatile.Write(ref _head, head + 1);
    }

    /// <summary>
    /// After the consumer freed slots: whether a producer was refused since the last call (it waits for room, so the
    /// backend must be told). Once per handler run: it costs a full fence.
    /// </summary>
    public bool TakeRefusal()
    {
        Interlocked.MemoryBarrier(); // the freed slots are visible before we read the record (see the remarks)
        return Volatile.Read(ref _refused) != 0 && Interlocked.Exchange(ref _refused, 0) != 0;
    }

    /// <summary>
    /// Discards every published frame (reset, as the consumer, with the rx handler stopped); returns how many. A frame
    /// a producer is still writing stays, as if it arrived just after the reset.
    /// </summary>
    public int Clear()
    {
        int n = 0;
        while (TryPeek(out _, out _))
        {
            Dequeue();
            n++;
        }

        return n;
    }

    private static Slot[] NewLane(int capacity)
    {
        var lane = new Slot[capacity];
        for (int i = 0; i < capacity; i++)
        {
            lane[i] = new Slot();
        }

        return lane;
    }

    private static void Fill(Slot slot, in VirtioNetHeader header, ReadOnlySpan<byte> frame)
    {
        if (slot.Data.Length < frame.Length)
        {
            slot.Data = new byte[Math.Max(frame.Length, Math.Min(slot.Data.Length * 2, VirtioNetDevice.MaxFrameLength))];
        }

        frame.CopyTo(slot.Data);
        slot.Length = frame.Length;
        slot.Header = header;
    }

    private int Index(long position) => _mask >= 0 ? (int)(position & _mask) : (int)((ulong)position % (ulong)_slots.Length);

    private sealed class Slot
    {
        public long Sequence;
        public byte[] Data = new byte[2048];
        public int Length;
        public VirtioNetHeader Header;
    }
}
