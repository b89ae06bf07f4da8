using Virtio.Memory;

namespace Virtio.Rings;

public sealed unsafe partial class SplitQueue
{
    /// <summary>
    /// Pops up to <c>chains.Length</c> chains with one read of <c>avail-&gt;idx</c> (DPDK's
    /// <c>rte_vhost_dequeue_burst</c> shape over QEMU's <c>virtqueue_split_pop</c>). Each chain is validated exactly as
    /// <see cref="Pop"/> validates it; a bad chain breaks the queue and the burst ends there, with the good chains
    /// before it returned (in flight, as after that many single pops).
    /// </summary>
    /// <remarks>
    /// <c>avail-&gt;idx</c> is read only when fewer chains than asked for are known to be available, and at most once.
    /// Heads scheduled by <see cref="Resubmit"/> are popped first, one at a time, as <see cref="Pop"/> does.
    /// </remarks>
    /// <param name="chains">Receives the chains, from index 0; each valid until pushed or the queue is reset.</param>
    /// <param name="status">
    /// <see cref="PopResult.Chain"/> when at least one chain was popped and the queue is sound;
    /// <see cref="PopResult.Empty"/> when none was available (or the queue is not ready); <see cref="PopResult.Broken"/>
    /// when the queue is broken, now or before (the return value then counts the good chains popped before the bad one).
    /// </param>
    /// <returns>How many chains were written to <paramref name="chains"/>.</returns>
    public int PopBurst(Span<DescriptorChain> chains, out PopResult status)
    {
        if (_error is not null || _avail == null || chains.IsEmpty)
        {
            status = _error is not null ? PopResult.Broken : PopResult.Empty;
            return 0;
        }

        if (_resubmitCount != 0)
        {
            return PopEach(chains, out status);
        }

        ushort last = _lastAvailIdx;
        ushort known = (ushort)(_shadowAvailIdx - last);
        if (known < (uint)chains.Length)
        {
            // Acquire load, once per burst: the ring entries and descriptors below are read after it.
            _shadowAvailIdx = LittleEndian.ReadIndex(_avail + SplitRing.IdxOffset);
            known = (ushort)(_shadowAvailIdx - last);
        }

        if (known > (uint)_size)
        {
            status = BreakPop(VirtqueueErrorKind.AvailIndexTooFar, last, _shadowAvailIdx, out _);
            return 0;
        }

        int count = Math.Min(known, chains.Length);
        for (int n = 0; n < count; n++)
        {
            if (_inUse >= _size)
            {
                status = BreakPop(VirtqueueErrorKind.SizeExceeded, 0, 0, out chains[n]);
                return n;
            }

            ushort head = LittleEndian.Read16(_avail + SplitRing.AvailEntryOffset((uint)((last + n) & _mask)));
            if (Take(head, out chains[n], tellLog: true) != PopResult.Chain)
            {
                status = PopResult.Broken;
                return n;
            }
        }

        status = count == 0 ? PopResult.Empty : PopResult.Chain;
        return count;
    }

    /// <summary>
    /// Publishes a burst of completed chains (<c>virtqueue_fill</c> each, one <c>virtqueue_flush</c>) and makes the
    /// notification decision once (<see cref="ShouldNotify"/>). Stale chains (popped before a reset, or from another
    /// queue) are skipped, as <see cref="Push(in DescriptorChain, uint)"/> skips them.
    /// </summary>
    /// <param name="chains">The chains, each popped from this queue and pushed once.</param>
    /// <param name="lengths">Bytes written into each chain's writable buffers; as many as <paramref name="chains"/>.</param>
    /// <returns>True when the driver must be notified (signal the call channel).</returns>
    /// <exception cref="ArgumentException">The two spans differ in length.</exception>
    /// <exception cref="InvalidOperationException">More chains than are in flight.</exception>
    public bool PushBurst(ReadOnlySpan<DescriptorChain> chains, ReadOnlySpan<uint> lengths)
    {
        if (chains.Length != lengths.Length)
        {
            ThrowHelper.BurstLengthsDiffer(chains.Length, lengths.Length);
        }

        if (_used == null || _error is not null)
        {
            return false;
        }

        int filled = 0;
        for (int i = 0; i < chains.Length; i++)
        {
            ref readonly DescriptorChain chain = ref chains[i];
            if (chain.IsFrom(this) && chain.Generation == _generation)
            {
                if (filled == _inUse)
                {
                    ThrowHelper.FlushMoreThanInFlight(filled + 1, _inUse); // before Fill wraps onto unpublished elements
                }

                Fill(chain.Head, lengths[i], filled++);
            }
        }

        if (filled == 0)
        {
            return false;
        }

        Flush(filled);
        return ShouldNotify();
    }

    /// <summary>The burst pop while resubmitted heads are pending: one <see cref="Pop"/> per chain.</summary>
    private int PopEach(Span<DescriptorChain> chains, out PopResult status)
    {
        for (int n = 0; n < chains.Length; n++)
        {
            PopResult r = Pop(out chains[n]);
            if (r != PopResult.Chain)
            {
                status = r == PopResult.Empty && n > 0 ? PopResult.Chain : r;
                return n;
            }
        }

        status = PopResult.Chain;
        return chains.Length;
    }
}
