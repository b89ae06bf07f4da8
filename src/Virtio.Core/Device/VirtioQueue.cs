using Virtio.Notifications;
using Virtio.Rings;

namespace Virtio.Device;

/// <summary>
/// One queue of a <see cref="VirtioDevice"/>: the device side of the split ring, its kick channel (driver to device),
/// its call channel (device to driver), and the bookkeeping that lets requests complete asynchronously.
/// </summary>
/// <remarks>
/// Threading: the handler (<see cref="VirtioDevice"/>'s <c>HandleQueue</c>) runs with the queue's lock held, on the
/// kicking thread or on the queue's worker. <see cref="Complete"/> may be called from any thread (a backend's
/// completion); it takes the same lock, so the ring itself is only ever touched by one thread at a time.
/// </remarks>
public sealed class VirtioQueue
{
    private readonly VirtioDevice _device;
    private readonly Lock _lock = new();
    private readonly long[] _popTimestamps;
    private IEventNotifier _kick = new EventNotifier();
    private IEventNotifier? _call;
    private int _inFlight;
    private bool _handling;
    private bool _notifyPending;
    private bool _runStamped;
    private long _runStamp;
    private volatile bool _polled;

    internal VirtioQueue(VirtioDevice device, SplitQueue ring)
    {
        _device = device;
        Ring = ring;
        _popTimestamps = new long[ring.MaxSize];
    }

    /// <summary>The device side of the split ring (state, configuration, diagnostics).</summary>
    public SplitQueue Ring { get; }

    /// <summary>The queue's index within its device.</summary>
    public int Index => Ring.Index;

    /// <summary>The device this queue belongs to.</summary>
    public VirtioDevice Device => _device;

    /// <summary>
    /// The kick channel (ioeventfd): QueueNotify signals it and the queue's handler runs when it is set. Replace it (for
    /// example with a fault-injecting wrapper) only while the device is not live.
    /// </summary>
    public IEventNotifier Kick
    {
        get => _kick;
        set
        {
            ArgumentNullException.ThrowIfNull(value);
            _device.ThrowIfLive();
            _kick = value;
        }
    }

    /// <summary>
    /// The call channel (irqfd) signalled when the device decides the driver needs a used-buffer notification.
    /// Defaults to the device's shared <see cref="VirtioDevice.Interrupt"/> line, as virtio-mmio has one.
    /// </summary>
    public IEventNotifier Call
    {
        get => _call ?? _device.Interrupt;
        set
        {
            ArgumentNullException.ThrowIfNull(value);
            _call = value;
        }
    }

    /// <summary>
    /// The device's thread busy-polls this queue (<see cref="VirtioDevice.Poll"/>, as Linux vhost's busy-poll loop
    /// and DPDK's vhost PMD): handlers leave the driver's notifications off when they have drained the ring instead of
    /// re-enabling them, and a receive queue with too few buffers waits for the next poll rather than asking for a
    /// kick. To stop polling, clear it and serve the queue once more: that handler run re-enables notifications and
    /// re-checks the ring (<see cref="SplitQueue.EnableNotificationAndRecheck"/>), so no buffer is missed before the
    /// thread sleeps on the kick channel.
    /// </summary>
    public bool Polled
    {
        get => _polled;
        set => _polled = value;
    }

    /// <summary>Used-buffer notifications this queue sent.</summary>
    public long Notifications { get; private set; }

    /// <summary>Completions that arrived for a chain popped before a reset, and were therefore discarded.</summary>
    public long StaleCompletions { get; private set; }

    /// <summary>
    /// Pops the next available chain (<c>virtqueue_pop</c>). A ring violation breaks the device (NEEDS_RESET) and
    /// returns false, as does an empty queue. Call only from the queue's handler.
    /// </summary>
    public bool TryPop(out DescriptorChain chain)
    {
        switch (Ring.Pop(out chain))
        {
            case PopResult.Chain:
                _popTimestamps[chain.Head] = _handling ? RunTimestamp() : _device.PopTimestamp();
                _inFlight++;
                return true;
            default: // empty, or broken (the ring's Broken event already made it a device error)
                return false;
        }
    }

    /// <summary>
    /// Pops up to <c>chains.Length</c> available chains (a burst, as DPDK's <c>rte_vhost_dequeue_burst</c>), each
    /// validated as <see cref="TryPop"/> validates it. Call only from the queue's handler.
    /// </summary>
    /// <returns>How many chains were popped; fewer than asked when the ring ran out or a chain broke the device.</returns>
    public int TryPopBurst(Span<DescriptorChain> chains)
    {
        // One avail->idx read for the burst (SplitQueue.PopBurst); a bad chain broke the device and ends the burst.
        int count = Ring.PopBurst(chains, out _);
        if (count > 0)
        {
            long stamp = _handling ? RunTimestamp() : _device.PopTimestamp();
            for (int i = 0; i < count; i++)
            {
                _popTimestamps[chains[i].Head] = stamp;
            }

            _inFlight += count;
        }

        return count;
    }

    /// <summary>
    /// Completes a popped chain with <paramref name="length"/> bytes written to its writable part
    /// (<c>virtqueue_push</c>), then notifies the driver if <see cref="SplitQueue.ShouldNotify"/> says so (inside the
    /// handler, once at its end). Safe from any thread. A chain popped before a reset is discarded; on a broken device
    /// nothing is written to the used ring (QEMU's <c>virtqueue_flush</c> on a broken device).
    /// </summary>
    /// <returns>False when nothing was written: the chain was stale or the device is broken.</returns>
    public bool Complete(in DescriptorChain chain, uint length)
    {
        // Inside the queue's own handler the lock is already this thread's: skip the recursive enter (the per-buffer case).
        if (_lock.IsHeldByCurrentThread)
        {
            return CompleteLocked(chain, length);
        }

        lock (_lock)
        {
            return CompleteLocked(chain, length);
        }
    }

    /// <summary>
    /// Writes <paramref name="status"/> to the last writable byte of the chain (the status byte that ends a
    /// virtio-blk, -scsi or -crypto request), then completes it as <see cref="Complete"/> does. The status is written
    /// under the queue's lock and only for a current chain, so a completion arriving after a reset writes nothing.
    /// </summary>
    /// <returns>False when nothing was written: the chain was stale, the device is broken, or it has no writable byte.</returns>
    public bool CompleteWithStatus(in DescriptorChain chain, uint usedLength, byte status)
    {
        // Inside the queue's own handler (an inline backend) the lock is already this thread's, as in Complete.
        if (_lock.IsHeldByCurrentThread)
        {
            return CompleteWithStatusLocked(chain, usedLength, status);
        }

        lock (_lock)
        {
            return CompleteWithStatusLocked(chain, usedLength, status);
        }
    }

    /// <summary>
    /// As <see cref="CompleteWithStatus(in DescriptorChain, uint, byte)"/>, with the status byte where the device's own
    /// walk of the chain found it (the last byte of its last writable buffer), which spares a second walk. The byte is
    /// written under the queue's lock and only for a current chain, as by the other overload.
    /// </summary>
    /// <param name="chain">The chain.</param>
    /// <param name="usedLength">Bytes written to the writable part, status included.</param>
    /// <param name="status">The status.</param>
    /// <param name="statusByte">The chain's last writable byte, from a walk of <paramref name="chain"/>.</param>
    /// <returns>False when nothing was written: the chain was stale or the device is broken.</returns>
    /// <exception cref="ArgumentException"><paramref name="statusByte"/> is not one byte.</exception>
    public bool CompleteWithStatus(in DescriptorChain chain, uint usedLength, byte status, Span<byte> statusByte)
    {
        if (statusByte.Length != 1)
        {
            throw new ArgumentException($"the status is one byte, not {statusByte.Length}", nameof(statusByte));
        }

        if (_lock.IsHeldByCurrentThread)
        {
            return CompleteWithStatusLocked(chain, usedLength, status, statusByte);
        }

        lock (_lock)
        {
            return CompleteWithStatusLocked(chain, usedLength, status, statusByte);
        }
    }

    /// <summary>
    /// Completes several popped chains with one <c>used-&gt;idx</c> update (<c>virtqueue_fill</c> for each, then one
    /// <c>virtqueue_flush</c>), so the driver sees all of them or none: virtio-net's mergeable rx buffers of one frame
    /// (QEMU's <c>virtio_net_receive_rcu</c>). Then notifies as <see cref="Complete"/> does.
    /// </summary>
    /// <returns>False when nothing was written: a chain was stale or the device is broken.</returns>
    /// <exception cref="ArgumentException">The spans differ in length.</exception>
    public bool CompleteBatch(ReadOnlySpan<DescriptorChain> chains, ReadOnlySpan<uint> lengths)
    {
        if (chains.Length != lengths.Length)
        {
            throw new ArgumentException($"{chains.Length} chains but {lengths.Length} lengths", nameof(lengths));
        }

        if (_lock.IsHeldByCurrentThread)
        {
            return CompleteBatchLocked(chains, lengths);
        }

        lock (_lock)
        {
            return CompleteBatchLocked(chains, lengths);
        }
    }

    /// <summary>
    /// Gives back the most recently popped chain (<c>virtqueue_unpop</c>): the next <see cref="TryPop"/> returns it
    /// again. For a device that popped a buffer it cannot fill yet (net rx). Call only from the queue's handler, in
    /// reverse pop order when giving back several.
    /// </summary>
    /// <returns>False when the chain is not from this queue's current generation or nothing is in flight.</returns>
    public bool Unpop(in DescriptorChain chain)
    {
        lock (_lock)
        {
            if (!chain.IsFrom(Ring) || chain.Generation != Ring.Generation || _inFlight == 0 || !Ring.Rewind(1))
            {
                return false;
            }

            _popTimestamps[chain.Head] = 0;
            _inFlight--;
            return true;
        }
    }

    /// <summary>Chains popped and not yet completed (the device's view; <see cref="SplitQueue.InUse"/> is the ring's).</summary>
    public int InFlight
    {
        get
        {
            lock (_lock)
            {
                return _inFlight;
            }
        }
    }

    /// <summary>
    /// The heads of the chains popped and not yet completed, with how long ago each was popped: what a stuck
    /// device is working on. Allocates; for diagnostics only.
    /// </summary>
    public IReadOnlyList<(ushort Head, TimeSpan Age)> GetInFlight()
    {
        var result = new List<(ushort, TimeSpan)>();
        lock (_lock)
        {
            if (_inFlight == 0)
            {
                return result;
            }

            long now = _device.PopTimestamp();
            for (int head = 0; head < _popTimestamps.Length; head++)
            {
                long popped = _popTimestamps[head];
                if (popped != 0)
                {
                    result.Add(((ushort)head, _device.PopAge(popped, now)));
                }
            }
        }

        return result;
    }

    /// <summary>Runs the device's handler for this queue under the queue lock, then sends a pending notification.</summary>
    internal void Handle()
    {
        lock (_lock)
        {
            if (!_device.CanProcess || !Ring.IsReady)
            {
                return;
            }

            _handling = true;
            _runStamped = false;
            try
            {
                _device.HandleQueueCore(this);
            }
            catch (Exception e)
            {
                // A model or backend bug must not end the worker (an unhandled exception there ends the process): the
                // device stops as after virtio_error, and the driver resets it.
                _device.OnHandlerFailed(this, e);
            }
            finally
            {
                _handling = false;
            }

            if (_notifyPending)
            {
                _notifyPending = false;
                NotifyIfNeeded();
            }
        }
    }

    /// <summary>
    /// Whether this thread holds the queue's lock: it runs the queue's handler (a synchronous backend completing a
    /// request from inside it), or it is inside <see cref="EnterLock"/>.
    /// </summary>
    public bool IsLockHeld => _lock.IsHeldByCurrentThread;

    /// <summary>
    /// Takes the queue's lock, which its handler and every completion hold: for a device's per-request state that must
    /// change atomically with the request's completion (virtio-blk's "a request a backend completes twice completes
    /// once"), and for the device's own state changes (reset, enable). <see cref="Complete"/> may be called under it;
    /// waiting under it for another thread's completion deadlocks.
    /// </summary>
    public Lock.Scope EnterLock() => _lock.EnterScope();

    internal void ResetBookkeeping()
    {
        Array.Clear(_popTimestamps);
        _inFlight = 0;
        _notifyPending = false;
        _polled = false; // a ring started again asks for kicks until a poller takes it
    }

    private bool CompleteLocked(in DescriptorChain chain, uint length)
    {
        if (!chain.IsFrom(Ring) || chain.Generation != Ring.Generation)
        {
            StaleCompletions++;
            _device.OnStaleCompletion();
            return false;
        }

        _popTimestamps[chain.Head] = 0;
        _inFlight--;
        if (!_device.CanComplete || !Ring.Push(chain, length))
        {
            return false;
        }

        NotifyOrDefer();
        return true;
    }

    private bool CompleteWithStatusLocked(in DescriptorChain chain, uint usedLength, byte status, Span<byte> statusByte = default)
    {
        if (chain.WritableLength != 0 && chain.IsFrom(Ring) && chain.Generation == Ring.Generation && _device.CanComplete)
        {
            if (statusByte.Length == 1)
            {
                statusByte[0] = status;
            }
            else
            {
                ReadOnlySpan<byte> value = [status];
                chain.CopyToWritable(value, chain.WritableLength - 1);
            }
        }

        return CompleteLocked(chain, usedLength);
    }

    private bool CompleteBatchLocked(ReadOnlySpan<DescriptorChain> chains, ReadOnlySpan<uint> lengths)
    {
        foreach (ref readonly DescriptorChain chain in chains)
        {
            if (!chain.IsFrom(Ring) || chain.Generation != Ring.Generation)
            {
                StaleCompletions += chains.Length;
                for (int i = 0; i < chains.Length; i++)
                {
                    _device.OnStaleCompletion();
                }

                return false;
            }
        }

        for (int i = 0; i < chains.Length; i++)
        {
            _popTimestamps[chains[i].Head] = 0;
            _inFlight--;
            if (_device.CanComplete)
            {
                Ring.Fill(chains[i].Head, lengths[i], i);
            }
        }

        if (!_device.CanComplete || Ring.IsBroken)
        {
            return false;
        }

        Ring.Flush(chains.Length);
        NotifyOrDefer();
        return true;
    }

    /// <summary>
    /// The pop time of every chain a handler run pops: the clock is read once per run, at its first pop (an in-flight
    /// age is a diagnosis, and a handler run does not block; the cost of a read per pop is in docs/benchmarks.md).
    /// </summary>
    private long RunTimestamp()
    {
        if (!_runStamped)
        {
            _runStamp = _device.PopTimestamp();
            _runStamped = true;
        }

        return _runStamp;
    }

    /// <summary>After a completion, under the lock: notify now, or once at the end of the handler running.</summary>
    private void NotifyOrDefer()
    {
        if (_handling)
        {
            _notifyPending = true;
        }
        else
        {
            NotifyIfNeeded();
        }
    }

    private void NotifyIfNeeded()
    {
        if (Ring.ShouldNotify())
        {
            Notifications++;
            _device.RaiseInterrupt(InterruptReason.UsedBuffer, Call);
        }
    }
}
