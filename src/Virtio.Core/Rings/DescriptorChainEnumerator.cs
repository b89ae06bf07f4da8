using Virtio.Memory;

namespace Virtio.Rings;

/// <summary>
/// Walks a <see cref="DescriptorChain"/> without allocating. It re-reads each descriptor from guest RAM and checks it
/// again; it never yields more buffers than were validated at pop time, so a hostile rewrite cannot make it loop.
/// </summary>
/// <remarks>
/// <para>The guarantee against a driver that rewrites the chain after the kick (a time-of-check/time-of-use race),
/// kept by every walk and copy helper:</para>
/// <list type="bullet">
/// <item>Descriptors of the descriptor table are read from the shadow the pop wrote as it validated them, never from
/// guest RAM again (QEMU maps the chain into its element at pop for the same reason): a rewrite of the table after the
/// pop changes nothing for a chain in flight. A chain of one direct buffer keeps its buffer in the
/// <see cref="DescriptorChain"/> itself. If another pop overwrote a shadow entry (two in-flight chains sharing a
/// descriptor), the walk breaks the queue.</item>
/// <item>An indirect table of up to 16 descriptors (fewer for queues above 4096 entries) is shadowed the same way, in a
/// slot of its head (the head cannot be popped again while in flight). A larger one lives in guest RAM and is read
/// again, one descriptor at a time into locals, and each one is validated again: inside guest RAM, no nested indirect,
/// no more and no fewer buffers than the pop counted, readable before writable, and no more readable or writable bytes
/// than the pop validated. A rewrite there may change which guest pages a buffer names or the data, or break the queue
/// (<see cref="VirtqueueErrorKind.ChainModifiedInFlight"/>); a copy never leaves guest RAM or runs past the validated
/// lengths.</item>
/// <item>Every buffer is translated again with its bounds checked before it is touched, and a walk of a chain popped
/// before a reset (or after the queue broke) ends at once without touching the fresh queue.</item>
/// </list>
/// </remarks>
public unsafe ref struct DescriptorChainEnumerator
{
    private readonly SplitQueue? _queue;
    private readonly int _generation;
    private readonly int _serial;
    private readonly ushort _head;
    private readonly ulong _singleAddress;
    private readonly uint _singleLength;
    private readonly bool _single;
    private readonly bool _singleWritable;
    private byte* _table;
    private uint _max;
    private uint _next;
    private int _remaining;
    private uint _readableLeft;
    private uint _writableLeft;
    private bool _inIndirect;
    private DescriptorBuffer _current;

    internal DescriptorChainEnumerator(SplitQueue? queue, int generation, int serial, ushort head, int count, uint readableLength, uint writableLength)
    {
        _queue = queue;
        _generation = generation;
        _serial = serial;
        _head = head;
        _next = head;
        _remaining = queue is null ? 0 : count;
        _readableLeft = readableLength;
        _writableLeft = writableLength;
    }

    /// <summary>A chain of one direct buffer: yields the buffer validated at pop instead of reading the table again.</summary>
    internal DescriptorChainEnumerator(SplitQueue queue, int generation, ushort head, ulong address, uint length, bool writable)
        : this(queue, generation, 0, head, 1, writable ? 0 : length, writable ? length : 0)
    {
        _singleAddress = address;
        _singleLength = length;
        _singleWritable = writable;
        _single = true;
    }

    /// <summary>The current buffer.</summary>
    public readonly DescriptorBuffer Current => _current;

    /// <summary>Moves to the next buffer.</summary>
    /// <returns>False at the end of the chain, or when the chain became invalid (the queue is then broken).</returns>
    public bool MoveNext()
    {
        if (_remaining <= 0)
        {
            return false;
        }

        SplitQueue queue = _queue!;
        if (_single)
        {
            _remaining = 0;
            if (!queue.IsCurrent(_generation) || queue.TranslateBuffer(_singleAddress, _singleLength, out byte* buffer) != GuestMemoryError.None)
            {
                return false;
            }

            _current = new DescriptorBuffer(_singleAddress, _singleLength, _singleWritable, new Span<byte>(buffer, (int)_singleLength));
            return true;
        }

        if (_table == null)
        {
            _table = queue.ChainStart(_generation, out _max);
            if (_table == null)
            {
                _remaining = 0; // stale (the queue was reset or broke since the pop)
                return false;
            }
        }
        else if (!queue.IsCurrent(_generation))
        {
            _remaining = 0;
            return false;
        }

        if (!_inIndirect && !queue.OwnsDescriptor(_next, _serial))
        {
            return Fail(); // another pop took this descriptor: two in-flight chains share it
        }

        byte* d = _table + (_next * SplitRing.DescriptorSize);
        ulong addr = LittleEndian.Read64(d);
        uint len = LittleEndian.Read32(d + 8);
        ushort flags = LittleEndian.Read16(d + 12);
        if ((flags & (ushort)DescriptorFlags.Indirect) != 0)
        {
            if (_inIndirect || (flags & (ushort)DescriptorFlags.Next) != 0 || !queue.TryMapIndirect(_head, addr, len, out byte* table))
            {
                return Fail();
            }

            _table = table;
            _max = len / SplitRing.DescriptorSize;
            _inIndirect = true;
            d = table;
            addr = LittleEndian.Read64(d);
            len = LittleEndian.Read32(d + 8);
            flags = LittleEndian.Read16(d + 12);
            if ((flags & (ushort)DescriptorFlags.Indirect) != 0)
            {
                return Fail();
            }
        }

        if (len == 0 || len > SplitQueue.MaxBufferLength || queue.TranslateBuffer(addr, len, out byte* p) != GuestMemoryError.None)
        {
            return Fail();
        }

        // The pop's totals bound the walk: readable bytes, then writable bytes, never more than were validated.
        bool writable = (flags & (ushort)DescriptorFlags.Write) != 0;
        if (writable)
        {
            if (len > _writableLeft)
            {
                return Fail();
            }

            _writableLeft -= len;
            _readableLeft = 0; // a readable buffer after a writable one is a rewrite
        }
        else
        {
            if (len > _readableLeft)
            {
                return Fail();
            }

            _readableLeft -= len;
        }

        _remaining--;
        if ((flags & (ushort)DescriptorFlags.Next) != 0)
        {
            ushort next = LittleEndian.Read16(d + 14);
            if (_remaining == 0 || next >= _max)
            {
                return Fail(); // longer than the chain the pop counted, or a bad next: it was rewritten
            }

            _next = next;
        }
        else if (_remaining > 0)
        {
            return Fail(); // shorter than the chain the pop counted
        }

        _current = new DescriptorBuffer(addr, len, writable, new Span<byte>(p, (int)len));
        return true;
    }

    private bool Fail()
    {
        _remaining = 0;
        _queue!.BreakInFlight(_head, _generation);
        return false;
    }
}
