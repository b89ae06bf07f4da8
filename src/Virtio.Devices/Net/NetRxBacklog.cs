namespace Virtio.Devices.Net;

/// <summary>
/// The frames of one queue pair waiting for rx buffers (QEMU keeps them in the peer's <c>NetQueue</c>): a bounded ring
/// of slots whose buffers grow to the largest frame seen and are then reused, so steady-state delivery allocates
/// nothing. Any thread enqueues; one consumer (the rx handler, under the rx queue's lock) peeks and dequeues.
/// </summary>
internal sealed class NetRxBacklog
{
    private readonly Slot[] _slots;
    private readonly Lock _lock = new();
    private int _head;
    private int _count;
    private bool _refused;

    public NetRxBacklog(int capacity)
    {
        _slots = new Slot[capacity];
        for (int i = 0; i < capacity; i++)
        {
            _slots[i] = new Slot();
        }
    }

    public int Count => Volatile.Read(ref _count);

    /// <summary>Copies a frame in; when full, returns false and, if <paramref name="remember"/>, records the refusal.</summary>
    public bool TryEnqueue(in VirtioNetHeader header, ReadOnlySpan<byte> frame, bool remember)
    {
        lock (_lock)
        {
            if (_count == _slots.Length)
            {
                _refused |= remember;
                return false;
            }

            Slot slot = _slots[(_head + _count) % _slots.Length];
            if (slot.Data.Length < frame.Length)
            {
                slot.Data = new byte[Math.Max(frame.Length, Math.Min(slot.Data.Length * 2, VirtioNetDevice.MaxFrameLength))];
            }

            frame.CopyTo(slot.Data);
            slot.Length = frame.Length;
            slot.Header = header;
            Volatile.Write(ref _count, _count + 1);
            return true;
        }
    }

    /// <summary>The oldest frame; the slot stays untouched by producers until <see cref="Dequeue"/>.</summary>
    public bool TryPeek(out VirtioNetHeader header, out Span<byte> frame)
    {
        if (Volatile.Read(ref _count) == 0)
        {
            header = default;
            frame = default;
            return false;
        }

        Slot slot = _slots[_head];
        header = slot.Header;
        frame = slot.Data.AsSpan(0, slot.Length);
        return true;
    }

    /// <summary>Replaces the oldest frame's header (after the consumer completed its checksum).</summary>
    public void SetHeadHeader(in VirtioNetHeader header) => _slots[_head].Header = header;

    /// <summary>Drops the oldest frame; returns true when a producer was refused since the last call (it waits for room).</summary>
    public bool Dequeue()
    {
        lock (_lock)
        {
            _head = (_head + 1) % _slots.Length;
            Volatile.Write(ref _count, _count - 1);
            bool refused = _refused;
            _refused = false;
            return refused;
        }
    }

    /// <summary>Empties the backlog (reset); returns how many frames were discarded.</summary>
    public int Clear()
    {
        lock (_lock)
        {
            int n = _count;
            _head = 0;
            Volatile.Write(ref _count, 0);
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
