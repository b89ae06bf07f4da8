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
/// </remarks>
internal sealed class NetRxBacklog
{
    private readonly Slot[] _slots;
    private readonly long _mask; // capacity - 1 for a power-of-two capacity, else -1 (index by division)
    private long _head; // the consumer's
    private long _tail; // the next position a producer claims
    private int _refused;

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

    /// <summary>Frames queued (claimed slots included); a snapshot.</summary>
    public int Count => (int)Math.Max(0, Volatile.Read(ref _tail) - Volatile.Read(ref _head));

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

        if (slot.Data.Length < frame.Length)
        {
            slot.Data = new byte[Math.Max(frame.Length, Math.Min(slot.Data.Length * 2, VirtioNetDevice.MaxFrameLength))];
        }

        frame.CopyTo(slot.Data);
        slot.Length = frame.Length;
        slot.Header = header;
        Volatile.Write(ref slot.Sequence, pos + 1); // publish: the frame is written before the consumer can see it
        return true;
    }

    /// <summary>The oldest frame; the slot stays untouched by producers until <see cref="Dequeue"/>.</summary>
    public bool TryPeek(out VirtioNetHeader header, out Span<byte> frame)
    {
        Slot slot = _slots[Index(_head)];
        if (Volatile.Read(ref slot.Sequence) != _head + 1)
        {
            header = default;
            frame = default;
            return false; // empty, or its producer has not finished writing it
        }

        header = slot.Header;
        frame = slot.Data.AsSpan(0, slot.Length);
        return true;
    }

    /// <summary>Replaces the oldest frame's header (after the consumer completed its checksum).</summary>
    public void SetHeadHeader(in VirtioNetHeader header) => _slots[Index(_head)].Header = header;

    /// <summary>Frees the oldest frame's slot (consumer only, after a successful <see cref="TryPeek"/>).</summary>
    public void Dequeue()
    {
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

    private int Index(long position) => _mask >= 0 ? (int)(position & _mask) : (int)((ulong)position % (ulong)_slots.Length);

    private sealed class Slot
    {
        public long Sequence;
        public byte[] Data = new byte[2048];
        public int Length;
        public VirtioNetHeader Header;
    }
}
