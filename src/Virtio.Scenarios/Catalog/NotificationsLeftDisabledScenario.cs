using Virtio.Diagnostics;
using Virtio.Faults;

namespace Virtio.Scenarios.Catalog;

/// <summary>After draining a batch the device leaves notifications disabled (avail_event behind, or NO_NOTIFY set).</summary>
public sealed class NotificationsLeftDisabledScenario : ReproScenario
{
    /// <inheritdoc />
    public override string Name => "notifications-left-disabled";

    /// <inheritdoc />
    public override string Fault => "device never re-enables notifications";

    /// <inheritdoc />
    public override HangVerdict Expected => HangVerdict.DeviceMissedKick;

    /// <inheritdoc />
    public override string Why =>
        "after draining a batch the device leaves avail_event behind, so the driver's next batch is published without a kick";

    /// <inheritdoc />
    protected internal override bool DeviceStep(ReproRunner run, RingFaultPoint point, ushort ringIndex)
    {
        ArgumentNullException.ThrowIfNull(run);
        return point == RingFaultPoint.DeviceLeaveNotificationsDisabled && run.Inject;
    }
}
