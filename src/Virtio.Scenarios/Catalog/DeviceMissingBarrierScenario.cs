using Virtio.Diagnostics;
using Virtio.Faults;

namespace Virtio.Scenarios.Catalog;

/// <summary>
/// The device reads <c>used_event</c> before its <c>used->idx</c> store is visible (QEMU's <c>virtio_split_should_notify</c>
/// without the <c>smp_mb</c>), while the driver's completion handler re-enables callbacks and polls.
/// </summary>
public sealed class DeviceMissingBarrierScenario : ReproScenario
{
    /// <inheritdoc />
    public override string Name => "device-missing-barrier";

    /// <inheritdoc />
    public override string Fault => "device reads used_event before its used->idx store";

    /// <inheritdoc />
    public override HangVerdict Expected => HangVerdict.DriverMissedNotification;

    /// <summary>Null: the race is on <c>used_event</c>, which exists only with EVENT_IDX.</summary>
    public override HangVerdict? ExpectedWithoutEventIdx => null;

    /// <inheritdoc />
    public override string Why =>
        "the device reads used_event (0, callbacks disabled) before its used->idx store is visible; the driver meanwhile re-enables callbacks, polls, sees nothing and sleeps; the device's stale used_event says no interrupt";

    /// <inheritdoc />
    protected internal override void BeforeBatch(ReproRunner run)
    {
        ArgumentNullException.ThrowIfNull(run);
        if (run.Armed && !run.Raced)
        {
            run.DriverQueue.DisableCallbacks(); // the driver is still in its completion handler (virtblk_done) for the last batch
        }
    }

    /// <inheritdoc />
    protected internal override bool DeviceStep(ReproRunner run, RingFaultPoint point, ushort ringIndex)
    {
        ArgumentNullException.ThrowIfNull(run);
        if (run.Raced)
        {
            return false;
        }

        if (point == RingFaultPoint.DeviceReadUsedEventBeforeUsedIdx)
        {
            return run.Inject;
        }

        if (point != RingFaultPoint.DeviceLeaveNotificationsDisabled)
        {
            return false;
        }

        // The device flushed the batch's completions but has not decided on the interrupt yet. The driver's completion
        // handler ends now: enable_cb writes used_event = last_used_idx and polls used->idx, which does not show the
        // device's store yet. A correct device fences and reads that used_event; this one read used_event (0,
        // callbacks disabled) before its store.
        run.Raced = true;
        ushort published = run.ReadIndex(run.UsedIdxAddress);
        run.WriteIndex(run.UsedIdxAddress, run.DriverQueue.LastUsedIdx);
        bool sleeps = run.DriverQueue.EnableCallbacks();
        run.WriteIndex(run.UsedIdxAddress, published);
        if (!sleeps)
        {
            throw new InvalidOperationException("device-missing-barrier: the driver's poll saw the held-back used->idx");
        }

        return false;
    }
}
