using Virtio.Memory;

namespace Virtio.Rings;

/// <summary>
/// Walks a <see cref="DescriptorChain"/> without allocating. It re-reads each descriptor from guest RAM and checks it
/// again; it never yields more buffers than were validated at pop time, so a hostile rewrite cannot make it loop.
/// </summary>
public unsafe ref struct DescriptorChainEnumerator
{
    private readonly SplitQueue? _queue;
    private readonly int _generation;
    private readonly ushort _head;
    private readonly ulong _singleAddress;
    private readonly uint _singleLength;
    private readonly bool _single;
    private readonly bool _singleWritable;
    private byte* _table;
    private uint _max;
    private uint _next;
    private int _remaining;
    private bool _inIndirect;
    private DescriptorBuffer _current;

    internal DescriptorChainEnumerator(SplitQueue? queue, int generation, ushort head, int count)
    {
        _queue = queue;
        _generation = generation;
        _head = head;
        _next = head;
        _remaining = queue is null ? 0 : count;
    }

    /// <summary>A chain of one direct buffer: yields the buffer validated at pop instead of reading the table again.</summary>
    internal DescriptorChainEnumerator(SplitQueue queue, int generation, ushort head, ulong address, uint length, bool writable)
        : this(queue, generation, head, 1)
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

        byte* d = _table + (_next * SplitRing.DescriptorSize);
        ulong addr = LittleEndian.Read64(d);
        uint len = LittleEndian.Read32(d + 8);
        ushort flags = LittleEndian.Read16(d + 12);
        if ((flags & (ushort)DescriptorFlags.Indirect) != 0)
        {
            if (_inIndirect || (flags & (ushort)DescriptorFlags.Next) != 0 || !queue.TryMapIndirect(addr, len, out byte* table))
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

        _current = new DescriptorBuffer(addr, len, (flags & (ushort)DescriptorFlags.Write) != 0, new Span<byte>(p, (int)len));
        _remaining--;
        if ((flags & (ushort)DescriptorFlags.Next) != 0)
        {
            ushort next = LittleEndian.Read16(d + 14);
            if (next >= _max)
            {
                if (_remaining > 0)
                {
                    return Fail();
                }
            }

            _next = next;
        }
        else
        {
            _remaining = 0; // the chain ends here, however many buffers the pop counted
        }

        return true;
    }

    private bool Fail()
    {
        _remaining = 0;
        _queue!.BreakInFlight(_head);
        return false;
    }
}
