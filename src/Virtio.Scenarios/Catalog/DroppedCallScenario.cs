using Virtio.Diagnostics.Faults;

namespace Virtio.Scenarios.Catalog;

/// <summary>The call channel (the device's irqfd) swallows the interrupt once the fault is armed.</summary>
public sealed class DroppedCallScenario : DriverMissedNotificationScenario
{
    /// <inheritdoc />
    public override string Name => "dropped-call";

    /// <inheritdoc />
    public override string Fault => "call channel drops an interrupt";

    /// <inheritdoc />
    public override string Why =>
        "the device completes the batch and signals, the call channel swallows the interrupt, the driver waits for it with used_event at its position";

    /// <inheritdoc />
    protected internal override void InstallChannels(ReproRunner run)
    {
        ArgumentNullException.ThrowIfNull(run);
        var plan = new SignalFaultPlan { Seed = run.Options.Seed, TimeProvider = run.Clock }.Drop(SignalSelector.After(() => run.Armed && run.Inject));
        run.Queue.Call = new FaultyEventNotifier(run.Device.Interrupt, plan, $"{run.Device.Name}/{run.Queue.Index}/call");
    }
}
