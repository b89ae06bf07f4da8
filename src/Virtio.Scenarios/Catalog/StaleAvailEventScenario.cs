using Virtio.Faults;

namespace Virtio.Scenarios.Catalog;

/// <summary>
/// The device enables notifications and skips the re-check of <c>avail->idx</c> that QEMU's
/// <c>virtio_queue_set_notification</c> + <c>virtio_queue_empty</c> loop makes, while the driver adds a buffer
/// against the stale <c>avail_event</c>.
/// </summary>
public sealed class StaleAvailEventScenario : AvailEventRaceScenario
{
    private ushort _staleAvailEvent;

    /// <inheritdoc />
    public override string Name => "stale-avail-event";

    /// <inheritdoc />
    public override string Fault => "device skips the re-check after enabling notifications";

    /// <inheritdoc />
    public override string Why =>
        "the driver adds a buffer while the device's avail_event store is not yet visible, so it reads the stale avail_event and does not kick; the device then goes to sleep without re-reading avail->idx";

    /// <inheritdoc />
    protected override bool Race(ReproRunner run, RingFaultPoint point)
    {
        ArgumentNullException.ThrowIfNull(run);
        switch (point)
        {
            case RingFaultPoint.DeviceLeaveNotificationsDisabled:
                _staleAvailEvent = run.ReadIndex(run.AvailEventAddress); // what the driver reads until the device's store lands
                return false;

            case RingFaultPoint.DeviceSkipRecheckAfterEnable:
            {
                // The device read avail->idx and stored avail_event; before that store is visible the driver adds a
                // buffer, fences, and reads the old avail_event: no kick. Only the device's re-check can find it.
                run.Raced = true;
                ushort fresh = run.ReadIndex(run.AvailEventAddress);
                run.WriteIndex(run.AvailEventAddress, _staleAvailEvent);
                run.AddRequest();
                run.DriverQueue.Kick();
                run.WriteIndex(run.AvailEventAddress, fresh);
                return run.Inject;
            }

            default:
                return false;
        }
    }
}
