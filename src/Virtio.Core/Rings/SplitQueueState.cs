namespace Virtio.Rings;

/// <summary>
/// The device side's shadow state of one split queue, named as QEMU names it (<c>x-query-virtio-queue-status</c>).
/// Read with <see cref="SplitQueue.GetState"/>; restored with <see cref="SplitQueue.SetState(in SplitQueueState)"/> for snapshots.
/// </summary>
/// <param name="LastAvailIdx"><c>last_avail_idx</c>: the next available-ring entry the device will pop.</param>
/// <param name="ShadowAvailIdx"><c>shadow_avail_idx</c>: the last <c>avail-&gt;idx</c> the device read.</param>
/// <param name="UsedIdx"><c>used_idx</c>: the device's used index (what it last published).</param>
/// <param name="InUse"><c>inuse</c>: chains popped and not yet pushed.</param>
/// <param name="SignalledUsed"><c>signalled_used</c>: <c>used_idx</c> at the last EVENT_IDX notify decision.</param>
/// <param name="SignalledUsedValid"><c>signalled_used_valid</c>: whether <see cref="SignalledUsed"/> may be trusted.</param>
/// <param name="NotificationEnabled">Whether the device asks for kicks (QEMU's <c>vq-&gt;notification</c>).</param>
public readonly record struct SplitQueueState(
    ushort LastAvailIdx,
    ushort ShadowAvailIdx,
    ushort UsedIdx,
    int InUse,
    ushort SignalledUsed,
    bool SignalledUsedValid,
    bool NotificationEnabled);
