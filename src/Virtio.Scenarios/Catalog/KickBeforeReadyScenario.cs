using Virtio.Diagnostics;
using Virtio.Faults;

namespace Virtio.Scenarios.Catalog;

/// <summary>The driver kicks before DRIVER_OK and the device drops that kick instead of looking at the ring on activation.</summary>
public sealed class KickBeforeReadyScenario : ReproScenario
{
    /// <inheritdoc />
    public override string Name => "kick-before-ready";

    /// <inheritdoc />
    public override string Fault => "device drops a kick sent before DRIVER_OK";

    /// <inheritdoc />
    public override HangVerdict Expected => HangVerdict.DeviceMissedKick;

    /// <inheritdoc />
    public override string Why =>
        "the driver adds and kicks before DRIVER_OK; the device drops the kick and does not look at the ring on activation (Firecracker before 0899ee515)";

    /// <inheritdoc />
    protected internal override bool KicksBeforeDriverOk => true;

    /// <inheritdoc />
    protected internal override bool DeviceStep(ReproRunner run, RingFaultPoint point, ushort ringIndex)
    {
        ArgumentNullException.ThrowIfNull(run);
        return point == RingFaultPoint.DeviceDropKickBeforeActivation && run.Inject;
    }
}
