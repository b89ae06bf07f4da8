using System.Runtime.CompilerServices;
using Virtio.Faults;
using Virtio.Memory;

namespace Virtio.Rings;

public sealed unsafe partial class SplitQueue
{
    /// <summary>
    /// Writes a used element at <c>used_idx + offset</c> without publishing it (<c>virtqueue_fill</c>). Call
    /// <see cref="Flush"/> to publish a batch with a single <c>used-&gt;idx</c> store.
    /// </summary>
    /// <param name="head">The head index of the chain (its id).</param>
    /// <param name="length">Bytes the device wrote into the chain's writable buffers.</param>
    /// <param name="offset">Position within the batch (0 for the first element), below the queue size.</param>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Fill(ushort head, uint length, int offset = 0)
    {
        if (_used == null || _error is not null)
        {
            return; // not ready, or broken: guest RAM is left as it was for diagnosis
        }

        if (head >= (uint)_size)
        {
            ThrowHelper.HeadOutOfRange(head, _size);
        }

        byte* e = _used + SplitRing.UsedElementOffset((uint)((_usedIdx + offset) & _mask));
        LittleEndian.Write32(e, head);
        LittleEndian.Write32(e + 4, length);
        _filledHeads[offset & _mask] = head; // Flush frees it: the guest may rewrite the used ring meanwhile
    }

    /// <summary>
    /// Publishes <paramref name="count"/> filled elements with one release store of <c>used-&gt;idx</c>
    /// (<c>virtqueue_flush</c>) and invalidates <c>signalled_used</c> when the index passed it.
    /// </summary>
    /// <exception cref="InvalidOperationException">More elements than chains in flight.</exception>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Flush(int count)
    {
        if (_used == null || _error is not null)
        {
            return;
        }

        if ((uint)count > (uint)_inUse)
        {
            ThrowHelper.FlushMoreThanInFlight(count, _inUse);
        }

        ushort old = _usedIdx;
        ushort next = (ushort)(old + count);
        if (_eventIdx && FaultPlan is not null && Inject(RingFaultPoint.DeviceReadUsedEventBeforeUsedIdx, next))
        {
            // Simulates the reordering a missing full fence allows: used_event is read before used->idx is visible.
            _staleUsedEvent = LittleEndian.ReadIndex(_usedEvent);
            _staleUsedEventPending = true;
        }

        // The heads go back to the driver with this store: from now on it may post them again.
        for (int i = 0; i < count; i++)
        {
            ushort head = _filledHeads[i & _mask];
            _headsInFlight[head >> 6] &= ~(1UL << (head & 63));
        }

        // vhost-user.rst "Inflight I/O tracking": the batch is recorded before used->idx publishes it, and cleared
        // after, so a device dying between the two stores is known to have completed it.
        IInflightLog? log = _inflightLog;
        log?.Publishing(new ReadOnlySpan<ushort>(_filledHeads, 0, count));

        // Release store: the elements written by Fill are visible before the index that publishes them.
        LittleEndian.WriteIndex(_used + SplitRing.IdxOffset, next);
        log?.Published(new ReadOnlySpan<ushort>(_filledHeads, 0, count), next);
        _usedIdx = next;
        _inUse -= count;
        if ((short)(next - _signalledUsed) < (ushort)(next - old))
        {
            _signalledUsedValid = false;
        }

        if (_trace is { } logger)
        {
            RingLog.VirtqueueFlush(logger, Name, Index, count, next);
        }
    }

    /// <summary>Fills and flushes one element (<c>virtqueue_push</c>).</summary>
    public void Push(ushort head, uint length)
    {
        Fill(head, length);
        Flush(1);
    }

    /// <summary>Pushes a popped chain, unless it is stale (popped before a reset), which is ignored.</summary>
    /// <returns>False when the chain was stale or the queue is broken.</returns>
    public bool Push(in DescriptorChain chain, uint length)
    {
        if (!chain.IsFrom(this) || !IsCurrent(chain.Generation))
        {
            return false;
        }

        Push(chain.Head, length);
        return true;
    }
}
