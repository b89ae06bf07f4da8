using Virtio.Diagnostics;

namespace Virtio.Scenarios.Catalog;

/// <summary>
/// What the two ways of missing an interrupt share (<see cref="DroppedCallScenario"/>,
/// <see cref="SlowInterruptHandlerScenario"/>): the device completes the batch and signals, and the driver never
/// reaches the used ring, its <c>used_event</c> left at its position.
/// </summary>
public abstract class DriverMissedNotificationScenario : ReproScenario
{
    /// <summary>Driver-missed-notification: the completions sit in the used ring, past <c>used_event</c>.</summary>
    public override HangVerdict Expected => HangVerdict.DriverMissedNotification;

    /// <summary>Healthy: without EVENT_IDX the driver's position is not in guest RAM, so the missed interrupt cannot be seen there.</summary>
    public override HangVerdict? ExpectedWithoutEventIdx => HangVerdict.Healthy;
}
