using Virtio.Faults;

namespace Virtio.Scenarios.Catalog;

/// <summary>
/// The driver reads <c>avail_event</c> before its <c>avail->idx</c> store is visible (Linux's
/// <c>virtqueue_kick_prepare_split</c> without the <c>virtio_mb</c>), while the device enables notifications and re-checks.
/// </summary>
public sealed class DriverMissingBarrierScenario : AvailEventRaceScenario
{
    private bool _racingAdd;
    private bool _publishPending;

    /// <inheritdoc />
    public override string Name => "driver-missing-barrier";

    /// <inheritdoc />
    public override string Fault => "driver reads avail_event before its avail->idx store";

    /// <inheritdoc />
    public override string Why =>
        "the driver reads avail_event before its avail->idx store is visible; the device meanwhile enables notifications, re-checks, sees nothing and sleeps; the driver's stale avail_event says no kick";

    /// <inheritdoc />
    protected override bool Race(ReproRunner run, RingFaultPoint point)
    {
        ArgumentNullException.ThrowIfNull(run);
        if (point != RingFaultPoint.DeviceLeaveNotificationsDisabled)
        {
            return false;
        }

        // The device drained the ring and is about to enable notifications and re-check. The driver adds a buffer: it
        // reads avail_event (still stale: notifications are off) and stores avail->idx, a store the device does not see
        // until after its re-check. A correct driver fences and reads avail_event after.
        run.Raced = true;
        ushort visible = run.ReadIndex(run.AvailIdxAddress);
        _racingAdd = true;
        run.AddRequest();
        _racingAdd = false;
        run.WriteIndex(run.AvailIdxAddress, visible);
        _publishPending = true;
        return false;
    }

    /// <inheritdoc />
    protected internal override bool DriverStep(ReproRunner run, RingFaultPoint point)
    {
        ArgumentNullException.ThrowIfNull(run);
        return point == RingFaultPoint.DriverReadAvailEventBeforeAvailIdx && _racingAdd && run.Inject;
    }

    /// <inheritdoc />
    protected internal override void AfterKick(ReproRunner run)
    {
        ArgumentNullException.ThrowIfNull(run);
        if (_publishPending)
        {
            // The driver's avail->idx store becomes visible only now; its kick decision used avail_event as read before.
            run.WriteIndex(run.AvailIdxAddress, run.DriverQueue.AvailIdxShadow);
            _publishPending = false;
            run.DriverQueue.Kick();
        }
    }
}
