using Virtio.Diagnostics;
using Virtio.Diagnostics.Faults;
using Virtio.Notifications;

namespace Virtio.Scenarios.Catalog;

/// <summary>The kick channel (the device's ioeventfd) swallows the driver's kick once the fault is armed.</summary>
public sealed class DroppedKickScenario : ReproScenario
{
    /// <inheritdoc />
    public override string Name => "dropped-kick";

    /// <inheritdoc />
    public override string Fault => "kick channel drops a kick";

    /// <inheritdoc />
    public override HangVerdict Expected => HangVerdict.DeviceMissedKick;

    /// <inheritdoc />
    public override string Why =>
        "the driver kicks for a batch (avail_event asked for it), the kick channel swallows it, the device sleeps on its ioeventfd";

    /// <inheritdoc />
    protected internal override void InstallChannels(ReproRunner run)
    {
        ArgumentNullException.ThrowIfNull(run);
        var plan = new SignalFaultPlan { Seed = run.Options.Seed, TimeProvider = run.Clock }.Drop(SignalSelector.After(() => run.Armed && run.Inject));
        run.Queue.Kick = new FaultyEventNotifier(new EventNotifier(), plan, $"{run.Device.Name}/{run.Queue.Index}/kick");
    }
}
