namespace Virtio.Devices.Net;

/// <summary>
/// The frames of one queue pair waiting for rx buffers (QEMU keeps them in the peer's <c>NetQueue</c>): a bounded ring
/// of slots whose buffers grow to the largest frame seen and are then reused, so steady-state delivery allocates
/// nothing. Any thread enqueues (producers take a lock among themselves); one consumer (the rx handler, under the rx
/// queue's lock) peeks and dequeues without it.
/// </summary>
/// <remarks>
/// The producers own <c>tail</c>, the consumer owns <c>head</c>; each publishes its index with a release store and reads
/// the other's with an acquire load, so a slot is written before it is seen and freed before it is reused. A producer
/// refused for want of room records it, fences, and looks again; the consumer, after freeing slots, fences and reads
/// the record (<see cref="TakeRefusal"/>): one of the two sees the other, so no refusal waits for a wake-up that never comes.
/// </remarks>
internal sealed class NetRxBacklog
{
    private readonly Slot[] _slots;
    private readonly Lock _producers = new();
    private long _head;
    private long _tail;
    private int _refused;

    public NetRxBacklog(int capacity)
    {
        _slots = new Slot[capacity];
        for (int i = 0; i < capacity; i++)
        {
            _slots[i] = new Slot();
        }
    }

    public int Count => (int)(Volatile.Read(ref _tail) - Volatile.Read(ref _head));

    /// <summary>Copies a frame in; when full, returns false and, if <paramref name="remember"/>, records the refusal.</summary>
    public bool TryEnqueue(in VirtioNetHeader header, ReadOnlySpan<byte> frame, bool remember)
    {
        lock (_producers)
        {
            if (_tail - Volatile.Read(ref _head) == _slots.Length)
            {
                if (!remember)
                {
                    return false;
                }

                Interlocked.Exchange(ref _refused, 1); // full fence: the record is visible before we look again
                if (_tail - Volatile.Read(ref _head) == _slots.Length)
                {
                    return false;
                }
            }

            Slot slot = _slots[_tail % _slots.Length];
            if (slot.Data.Length < frame.Length)
            {
                slot.Data = new byte[Math.Max(frame.Length, Math.Min(slot.Data.Length * 2, VirtioNetDevice.MaxFrameLength))];
            }

            frame.CopyTo(slot.Data);
            slot.Length = frame.Length;
            slot.Header = header;
            Volatile.Write(ref _tail, _tail + 1);
            return true;
        }
    }

    /// <summary>The oldest frame; the slot stays untouched by producers until <see cref="Dequeue"/>.</summary>
    public bool TryPeek(out VirtioNetHeader header, out Span<byte> frame)
    {
        if (Volatile.Read(ref _tail) == _head)
        {
            header = default;
            frame = default;
            return false;
        }

        Slot slot = _slots[_head % _slots.Length];
        header = slot.Header;
        frame = slot.Data.AsSpan(0, slot.Length);
        return true;
    }

    /// <summary>Replaces the oldest frame's header (after the consumer completed its checksum).</summary>
    public void SetHeadHeader(in VirtioNetHeader header) => _slots[_head % _slots.Length].Header = header;

    /// <summary>Frees the oldest frame's slot (consumer only).</summary>
    public void Dequeue() => Volatile.Write(ref _head, _head + 1);

    /// <summary>
    /// After the consumer freed slots: whether a producer was refused since the last call (it waits for room, so the
    /// backend must be told). Once per handler run: it costs a full fence.
    /// </summary>
    public bool TakeRefusal()
    {
        Interlocked.MemoryBarrier(); // the freed head is visible before we read the record (see the remarks)
        return Volatile.Read(ref _refused) != 0 && Interlocked.Exchange(ref _refused, 0) != 0;
    }

    /// <summary>Empties the backlog (reset, with the rx handler stopped); returns how many frames were discarded.</summary>
    public int Clear()
    {
        lock (_producers)
        {
            int n = (int)(_tail - _head);
            Volatile.Write(ref _head, _tail);
            return n;
        }
    }

    private sealed class Slot
    {
        public byte[] Data = new byte[2048];
        public int Length;
        public VirtioNetHeader Header;
    }
}
