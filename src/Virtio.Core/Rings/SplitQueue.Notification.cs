using System.Runtime.CompilerServices;
using Virtio.Faults;
using Virtio.Memory;

namespace Virtio.Rings;

public sealed unsafe partial class SplitQueue
{
    /// <summary>
    /// Decides whether to notify the driver of used buffers (mirrors <c>virtio_split_should_notify</c>): a full
    /// fence so the published <c>used-&gt;idx</c> is visible before <c>used_event</c> is read; then, with EVENT_IDX,
    /// <c>vring_need_event(used_event, used_idx, signalled_used)</c>, otherwise the driver's NO_INTERRUPT flag.
    /// </summary>
    /// <remarks>Updates <c>signalled_used</c>; call it once per flush and signal the call channel when true.</remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool ShouldNotify()
    {
        if (_avail == null || _error is not null)
        {
            return false;
        }

        ushort usedEvent = 0;
        if (_staleUsedEventPending)
        {
            _staleUsedEventPending = false;
            usedEvent = _staleUsedEvent; // the injected reordering: a value read before used->idx was published
        }
        else
        {
            Interlocked.MemoryBarrier(); // smp_mb(): used->idx store before the used_event / flags load
            if (_eventIdx)
            {
                // used_event exists only with EVENT_IDX: without it, Enable did not map those two bytes.
                usedEvent = LittleEndian.ReadIndex(_usedEvent);
            }
        }

        if (NotifyOnEmpty && _inUse == 0 && IsEmpty())
        {
            return true;
        }

        if (!_eventIdx)
        {
            return (LittleEndian.ReadIndex(_avail) & SplitRing.AvailFlagNoInterrupt) == 0;
        }

        bool valid = _signalledUsedValid;
        _signalledUsedValid = true;
        ushort old = _signalledUsed;
        ushort now = _signalledUsed = _usedIdx;
        return !valid || SplitRing.NeedEvent(usedEvent, now, old);
    }

    /// <summary>
    /// Asks the driver for kicks or not (<c>virtio_queue_set_notification</c>). With EVENT_IDX, enabling writes
    /// <c>avail_event</c> = the current <c>avail-&gt;idx</c> and disabling writes nothing (the stale event index then
    /// suppresses kicks); without it, <c>VRING_USED_F_NO_NOTIFY</c> is cleared or set. Enabling ends with a full
    /// fence, so that the caller's next read of <c>avail-&gt;idx</c> cannot pass the write: use
    /// <see cref="EnableNotificationAndRecheck"/>, which does that re-check, before going to sleep.
    /// </summary>
    public void SetNotification(bool enable)
    {
        if (_avail == null || _error is not null)
        {
            return;
        }

        if (enable && FaultPlan is not null && Inject(RingFaultPoint.DeviceLeaveNotificationsDisabled, _lastAvailIdx))
        {
            return;
        }

        _notification = enable;
        if (_eventIdx)
        {
            _shadowAvailIdx = LittleEndian.ReadIndex(_avail + SplitRing.IdxOffset);
            if (enable)
            {
                LittleEndian.WriteIndex(_availEvent, _shadowAvailIdx);
            }
        }
        else
        {
            ushort flags = LittleEndian.ReadIndex(_used);
            ushort updated = enable ? (ushort)(flags & ~SplitRing.UsedFlagNoNotify) : (ushort)(flags | SplitRing.UsedFlagNoNotify);
            if (updated != flags)
            {
                LittleEndian.WriteIndex(_used, updated);
            }
        }

        if (enable)
        {
            Interlocked.MemoryBarrier(); // smp_mb(): expose avail_event / used->flags before the caller re-reads avail->idx
        }
    }

    /// <summary>
    /// True when no chain is available (<c>virtio_queue_empty</c>): reads <c>avail-&gt;idx</c> only when every
    /// chain the device last saw has been popped.
    /// </summary>
    public bool IsEmpty()
    {
        if (_avail == null || _error is not null)
        {
            return true;
        }

        if (_shadowAvailIdx != _lastAvailIdx)
        {
            return false;
        }

        _shadowAvailIdx = LittleEndian.ReadIndex(_avail + SplitRing.IdxOffset);
        return _shadowAvailIdx == _lastAvailIdx;
    }

    /// <summary>
    /// Enables notifications and re-checks the ring, the step that must precede sleeping on the kick channel
    /// (QEMU's <c>virtio_queue_set_notification(vq, 1)</c> + <c>virtio_queue_empty</c>; Linux's
    /// <c>virtqueue_enable_cb_prepare</c> + <c>virtqueue_poll</c>): a buffer added while notifications were off
    /// produced no kick, so it must be found now.
    /// </summary>
    /// <returns>True when buffers are available: keep processing (notifications may be disabled again).</returns>
    public bool EnableNotificationAndRecheck()
    {
        SetNotification(true);
        if (FaultPlan is not null && Inject(RingFaultPoint.DeviceSkipRecheckAfterEnable, _lastAvailIdx))
        {
            return false;
        }

        return !IsEmpty();
    }
}
