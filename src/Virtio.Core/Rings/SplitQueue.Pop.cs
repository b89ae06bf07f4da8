using System.Runtime.CompilerServices;
using Virtio.Memory;

namespace Virtio.Rings;

public sealed unsafe partial class SplitQueue
{
    /// <summary>The most bytes one buffer may span: a <see cref="Span{T}"/> covers at most this much.</summary>
    public const uint MaxBufferLength = int.MaxValue;

    /// <summary>
    /// Pops the next available descriptor chain and validates all of it (mirrors <c>virtqueue_split_pop</c>): the
    /// head, every <c>next</c>, loops, indirect tables, the readable-before-writable order and that every buffer lies
    /// inside guest memory. A violation breaks the queue.
    /// </summary>
    /// <remarks>
    /// Where it differs from QEMU 7.2 (each also noted at its rule): a head already in flight is rejected
    /// (<see cref="VirtqueueErrorKind.HeadInUse"/>; QEMU does not check); INDIRECT with NEXT is rejected
    /// (<see cref="VirtqueueErrorKind.IndirectWithNext"/>; QEMU ignores NEXT); an indirect descriptor inside an indirect
    /// table is rejected (<see cref="VirtqueueErrorKind.NestedIndirect"/>, as Linux vhost; QEMU does not check); and a
    /// chain of normal descriptors whose last one is INDIRECT is accepted, as spec 2.7.5.3 allows (QEMU honours INDIRECT
    /// only on the head). The descriptor-table entries it validates are kept for the chain's walks, as QEMU keeps the
    /// element it maps.
    /// </remarks>
    /// <param name="chain">The chain, valid until it is pushed or the queue is reset.</param>
    /// <returns><see cref="PopResult.Chain"/>, <see cref="PopResult.Empty"/>, or <see cref="PopResult.Broken"/>.</returns>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public PopResult Pop(out DescriptorChain chain)
    {
        // The common case inlines into the caller, so the chain is built in the caller's frame (no copy out, no GC
        // write barrier for its queue reference). Anything unusual (not ready, broken, resubmitted heads pending, an
        // index the checks below reject) goes to PopSlow, which checks everything again from the start.
        ushort last = _lastAvailIdx;
        if (_error is null && _avail != null && _resubmitCount == 0)
        {
            if (last == _shadowAvailIdx)
            {
                // Acquire load: the ring entry and descriptors below are read after the index that published them.
                _shadowAvailIdx = LittleEndian.ReadIndex(_avail + SplitRing.IdxOffset);
                if (last == _shadowAvailIdx)
                {
                    chain = default;
                    return PopResult.Empty;
                }
            }

            if ((ushort)(_shadowAvailIdx - last) <= (uint)_size && _inUse < _size)
            {
                ushort head = LittleEndian.Read16(_avail + SplitRing.AvailEntryOffset((uint)(last & _mask)));
                return Take(head, out chain, tellLog: true);
            }
        }

        return PopSlow(out chain);
    }

    /// <summary><see cref="Pop"/> with every case, out of line: the rare ones break the queue or resubmit.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private PopResult PopSlow(out DescriptorChain chain)
    {
        if (_error is not null || _avail == null)
        {
            chain = default;
            return _error is not null ? PopResult.Broken : PopResult.Empty;
        }

        if (_resubmitCount != 0)
        {
            if (_resubmitNext != _resubmitCount)
            {
                return PopHead(_resubmitHeads[_resubmitNext++], out chain);
            }

            _resubmitCount = _resubmitNext = 0; // from here on a rewind gives chains back to the available ring
        }

        ushort last = _lastAvailIdx;
        if (last == _shadowAvailIdx)
        {
            // Acquire load: the ring entry and descriptors below are read after the index that published them.
            _shadowAvailIdx = LittleEndian.ReadIndex(_avail + SplitRing.IdxOffset);
            if (last == _shadowAvailIdx)
            {
                chain = default;
                return PopResult.Empty;
            }
        }

        if ((ushort)(_shadowAvailIdx - last) > (uint)_size)
        {
            return BreakPop(VirtqueueErrorKind.AvailIndexTooFar, last, _shadowAvailIdx, out chain);
        }

        if (_inUse >= _size)
        {
            return BreakPop(VirtqueueErrorKind.SizeExceeded, 0, 0, out chain);
        }

        ushort head = LittleEndian.Read16(_avail + SplitRing.AvailEntryOffset((uint)(last & _mask)));
        return Take(head, out chain, tellLog: true);
    }

    /// <summary>
    /// Pops the chain at <paramref name="head"/> without reading the available ring: a request a restarted device had
    /// in flight, resubmitted (see <see cref="Resubmit"/>). It takes the next available entry as <see cref="Pop"/>
    /// would (the driver published it before the restart) and validates the chain as <see cref="Pop"/> does; a head out
    /// of range or in flight, a bad chain, or no available entry left for it breaks the queue. The
    /// <see cref="InflightLog"/> is not told: the head is still recorded from its first pop.
    /// </summary>
    /// <param name="head">The head index of the chain.</param>
    /// <param name="chain">The chain, valid until it is pushed or the queue is reset.</param>
    /// <returns><see cref="PopResult.Chain"/> or <see cref="PopResult.Broken"/> (<see cref="PopResult.Empty"/> when not ready).</returns>
    public PopResult PopHead(ushort head, out DescriptorChain chain)
    {
        if (_error is not null || _avail == null)
        {
            chain = default;
            return _error is not null ? PopResult.Broken : PopResult.Empty;
        }

        ushort last = _lastAvailIdx;
        if (last == _shadowAvailIdx)
        {
            _shadowAvailIdx = LittleEndian.ReadIndex(_avail + SplitRing.IdxOffset);
        }

        ushort available = (ushort)(_shadowAvailIdx - last);
        if (available > (uint)_size)
        {
            return BreakPop(VirtqueueErrorKind.AvailIndexTooFar, last, _shadowAvailIdx, out chain);
        }

        if (available == 0)
        {
            return BreakPop(VirtqueueErrorKind.ResubmitBeyondAvail, head, _shadowAvailIdx, out chain);
        }

        if (_inUse >= _size)
        {
            return BreakPop(VirtqueueErrorKind.SizeExceeded, 0, 0, out chain);
        }

        return Take(head, out chain, tellLog: false);
    }

    /// <summary>
    /// The number of chains available and not yet popped (<c>virtqueue_num_heads</c>), after reading
    /// <c>avail-&gt;idx</c>. Breaks the queue when the driver claims more than the queue size.
    /// </summary>
    public int AvailableCount()
    {
        if (_error is not null || _avail == null)
        {
            return 0;
        }

        _shadowAvailIdx = LittleEndian.ReadIndex(_avail + SplitRing.IdxOffset);
        int n = (ushort)(_shadowAvailIdx - _lastAvailIdx);
        if (n > _size)
        {
            Break(VirtqueueErrorKind.AvailIndexTooFar, _lastAvailIdx, _shadowAvailIdx);
            return 0;
        }

        return n;
    }

    /// <summary>
    /// Gives back the most recently popped chain (<c>virtqueue_unpop</c>): the next <see cref="Pop"/> returns it
    /// again. Used when a device popped a buffer it cannot fill yet (net rx).
    /// </summary>
    /// <exception cref="InvalidOperationException">No chain is in flight.</exception>
    public void Unpop()
    {
        if (!Rewind(1))
        {
            ThrowHelper.NothingInFlight();
        }
    }

    /// <summary>
    /// Gives back the last <paramref name="count"/> popped chains (<c>virtqueue_rewind</c>).
    /// </summary>
    /// <returns>False, changing nothing, when fewer than <paramref name="count"/> chains are in flight.</returns>
    public bool Rewind(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        if (count > _inUse)
        {
            return false;
        }

        // Rewound resubmitted chains go back to the resubmit list (still in flight for the log); the others to the
        // available ring, and the log forgets them.
        for (int k = 1; k <= count; k++)
        {
            ushort position = (ushort)(_lastAvailIdx - k);
            ushort head = _poppedHeads[position & _mask];
            _headsInFlight[head >> 6] &= ~(1UL << (head & 63));
            if ((ushort)(position - _resubmitBase) < (uint)_resubmitNext)
            {
                _resubmitNext--;
            }
            else
            {
                _inflightLog?.Unpopped(head);
            }
        }

        _lastAvailIdx = (ushort)(_lastAvailIdx - count);
        _inUse -= count;
        return true;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private PopResult BreakPop(VirtqueueErrorKind kind, ulong a, ulong b, out DescriptorChain chain)
    {
        chain = default;
        Break(kind, a, b);
        return PopResult.Broken;
    }

    /// <summary>
    /// Consumes the next available entry for <paramref name="head"/>, validates its chain and marks it in flight; tells
    /// the <see cref="InflightLog"/> when <paramref name="tellLog"/> (not for a resubmitted head, recorded at its first pop).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private PopResult Take(ushort head, out DescriptorChain chain, bool tellLog)
    {
        ushort last = ++_lastAvailIdx;
        if (head >= (uint)_size)
        {
            return BreakPop(VirtqueueErrorKind.HeadOutOfRange, head, 0, out chain);
        }

        // Spec 2.7.13: a head comes back only through the used ring. A second pop of a head in flight would hand the
        // device two requests with one id (one blk request slot, one used element for two chains): a ring violation.
        ref ulong inFlightWord = ref _headsInFlight[head >> 6];
        ulong inFlightBit = 1UL << (head & 63);
        if ((inFlightWord & inFlightBit) != 0)
        {
            return BreakPop(VirtqueueErrorKind.HeadInUse, head, 0, out chain);
        }

        if (_eventIdx && _notification)
        {
            // QEMU writes avail_event = last_avail_idx on each pop while notifications are on.
            LittleEndian.WriteIndex(_availEvent, last);
        }

        // Fast path: one direct descriptor that ends the chain, the common shape of a simple request.
        byte* d = _desc + (head * SplitRing.DescriptorSize);
        ushort flags = LittleEndian.Read16(d + 12);
        uint len = LittleEndian.Read32(d + 8);
        ulong addr = LittleEndian.Read64(d);
        if ((flags & (ushort)(DescriptorFlags.Next | DescriptorFlags.Indirect)) == 0 && len - 1 < MaxBufferLength
            && TranslateBuffer(addr, len, out _) == GuestMemoryError.None)
        {
            chain = new DescriptorChain(this, _generation, head, addr, len, (flags & (ushort)DescriptorFlags.Write) != 0);
        }
        else
        {
            VirtqueueErrorKind error = Walk(head, out chain, out ulong a, out ulong b);
            if (error != 0)
            {
                return BreakPop(error, a, b, out chain);
            }
        }

        inFlightWord |= inFlightBit;
        _poppedHeads[(ushort)(last - 1) & _mask] = head;
        _inUse++;
        if (_trace is { } logger)
        {
            RingLog.VirtqueuePop(logger, Name, Index, head, chain.ReadableCount, chain.WritableCount);
        }

        if (tellLog && _inflightLog is { } log)
        {
            log.Popped(head);
        }

        return PopResult.Chain;
    }

    /// <summary>Walks and validates one chain without trusting anything in it; bounded by the table sizes.</summary>
    private VirtqueueErrorKind Walk(ushort head, out DescriptorChain chain, out ulong errA, out ulong errB)
    {
        byte* table = _desc;
        uint max = (uint)_size;
        uint i = head;
        uint count = 0;
        bool inIndirect = false;
        int serial = ++_popSerial;
        byte* shadowTable = _shadow;
        int readable = 0, writable = 0, total = 0;
        ulong readableBytes = 0, writableBytes = 0;
        errA = errB = 0;
        chain = default;

        while (true)
        {
            byte* d = table + (i * SplitRing.DescriptorSize);
            ulong addr = LittleEndian.Read64(d);
            uint len = LittleEndian.Read32(d + 8);
            ushort flags = LittleEndian.Read16(d + 12);
            byte* shadow = null;
            if (shadowTable != null)
            {
                // Keep what was read and validated, not what the guest may write next.
                shadow = shadowTable + (i * SplitRing.DescriptorSize);
                LittleEndian.Write64(shadow, addr);
                LittleEndian.Write32(shadow + 8, len);
                LittleEndian.Write16(shadow + 12, flags);
                if (!inIndirect)
                {
                    _descriptorOwner[i] = serial;
                }
            }

            // INDIRECT is honoured on any descriptor of the table, not only the head: spec 2.7.5.3 lets normal
            // descriptors chain to a last indirect one (QEMU's virtqueue_split_pop looks at the head only).
            if ((flags & (ushort)DescriptorFlags.Indirect) != 0)
            {
                VirtqueueErrorKind e = EnterIndirect(inIndirect, i, addr, len, flags, ref errA, ref errB, out table);
                if (e != 0)
                {
                    return e;
                }

                max = len / SplitRing.DescriptorSize;
                shadowTable = IndirectShadow(head, max);
                i = 0;
                count = 0;
                inIndirect = true;
                continue;
            }

            if (++count > max)
            {
                errA = max;
                return VirtqueueErrorKind.LoopedDescriptor;
            }

            if (len == 0)
            {
                return VirtqueueErrorKind.ZeroLengthBuffer;
            }

            if (len > MaxBufferLength)
            {
                errA = len;
                errB = MaxBufferLength;
                return VirtqueueErrorKind.BufferTooLarge;
            }

            if (TranslateBuffer(addr, len, out _) != GuestMemoryError.None)
            {
                errA = addr;
                errB = len;
                return VirtqueueErrorKind.BufferUnmapped;
            }

            total++;
            if ((flags & (ushort)DescriptorFlags.Write) != 0)
            {
                writable++;
                writableBytes += len;
            }
            else
            {
                if (writable != 0)
                {
                    return VirtqueueErrorKind.ReadableAfterWritable;
                }

                readable++;
                readableBytes += len;
            }

            if ((flags & (ushort)DescriptorFlags.Next) == 0)
            {
                break;
            }

            ushort next = LittleEndian.Read16(d + 14);
            if (next >= max)
            {
                errA = next;
                return VirtqueueErrorKind.NextOutOfRange;
            }

            if (shadow != null)
            {
                LittleEndian.Write16(shadow + 14, next);
            }

            i = next;
        }

        if (readableBytes + writableBytes > uint.MaxValue)
        {
            errA = readableBytes + writableBytes;
            return VirtqueueErrorKind.ChainLengthOverflow;
        }

        chain = new DescriptorChain(this, _generation, serial, head, total, readable, writable, (uint)readableBytes, (uint)writableBytes, inIndirect);
        return 0;
    }

    /// <summary>Checks a descriptor with INDIRECT set and maps its table (spec 2.7.5.3).</summary>
    private VirtqueueErrorKind EnterIndirect(bool inIndirect, uint i, ulong addr, uint len, ushort flags, ref ulong errA, ref ulong errB, out byte* table)
    {
        table = null;
        errA = i;
        if (inIndirect)
        {
            // Spec 2.7.5.3.1; Linux vhost rejects it too ("Nested indirect descriptor"); QEMU does not check.
            return VirtqueueErrorKind.NestedIndirect;
        }

        if (!_indirect)
        {
            return VirtqueueErrorKind.IndirectNotNegotiated;
        }

        if ((flags & (ushort)DescriptorFlags.Next) != 0)
        {
            // Spec 2.7.5.3.1 forbids the pair; QEMU ignores NEXT here and would silently drop the rest of the chain.
            return VirtqueueErrorKind.IndirectWithNext;
        }

        if (len == 0 || len % SplitRing.DescriptorSize != 0)
        {
            errA = len;
            return VirtqueueErrorKind.IndirectTableInvalidSize;
        }

        if (len / SplitRing.DescriptorSize > (uint)MaxIndirectDescriptors)
        {
            errA = len / SplitRing.DescriptorSize;
            errB = (uint)MaxIndirectDescriptors;
            return VirtqueueErrorKind.IndirectTableTooLarge;
        }

        if (TranslateBuffer(addr, len, out table) != GuestMemoryError.None)
        {
            errA = addr;
            errB = len;
            return VirtqueueErrorKind.IndirectTableUnmapped;
        }

        return 0;
    }

    /// <summary>
    /// Where a chain's walk starts, for <see cref="DescriptorChainEnumerator"/>: the shadow of the descriptor table as
    /// the pop validated it (not the guest's table); null when the chain is stale.
    /// </summary>
    internal byte* ChainStart(int generation, out uint max)
    {
        max = (uint)_size;
        return generation == _generation && _error is null ? _shadow : null;
    }

    /// <summary>Whether the shadow of descriptor <paramref name="index"/> is still the one pop <paramref name="serial"/> validated.</summary>
    internal bool OwnsDescriptor(uint index, int serial) => _descriptorOwner[index] == serial;

    internal int Generation => _generation;

    internal bool IsCurrent(int generation) => generation == _generation && _error is null;

    /// <summary>
    /// A chain changed under the device after it was validated: the driver broke the ring. A chain popped before a
    /// reset is stale, and its walk must not break the fresh queue.
    /// </summary>
    internal void BreakInFlight(ushort head, int generation)
    {
        if (generation == _generation)
        {
            Break(VirtqueueErrorKind.ChainModifiedInFlight, head, 0);
        }
    }

    /// <summary>
    /// The indirect table a walk of <paramref name="head"/>'s chain reads: the shadow its pop wrote when the table is
    /// small enough to have one, else the guest's table, mapped again with its bounds checked.
    /// </summary>
    internal bool TryMapIndirect(ushort head, ulong addr, uint len, out byte* table)
    {
        table = null;
        if (!_indirect || len == 0 || len % SplitRing.DescriptorSize != 0 || len / SplitRing.DescriptorSize > (uint)MaxIndirectDescriptors)
        {
            return false;
        }

        table = IndirectShadow(head, len / SplitRing.DescriptorSize);
        return table != null || TranslateBuffer(addr, len, out table) == GuestMemoryError.None;
    }

    /// <summary>The shadow slot of <paramref name="head"/>'s indirect table, or null when the table has more entries than a slot.</summary>
    private byte* IndirectShadow(ushort head, uint entries) =>
        entries <= (uint)_indirectShadowEntries
            ? _indirectShadow + ((uint)head * (uint)_indirectShadowEntries * SplitRing.DescriptorSize)
            : null;
}
