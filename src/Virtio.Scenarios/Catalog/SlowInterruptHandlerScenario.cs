namespace Virtio.Scenarios.Catalog;

/// <summary>The interrupt is delivered, but the driver's handler disables callbacks and never reaches the used ring.</summary>
public sealed class SlowInterruptHandlerScenario : DriverMissedNotificationScenario
{
    /// <inheritdoc />
    public override string Name => "slow-interrupt-handler";

    /// <inheritdoc />
    public override string Fault => "interrupt delivered, driver stays in its handler";

    /// <inheritdoc />
    public override string Why =>
        "the device completes the batch and the interrupt arrives; the driver's handler disables callbacks (event_triggered: used_event stays at its position, Linux 6.4 / 6.1.28) and then does not get to the used ring. The ring looks exactly as after a lost interrupt: the verdict says a notification was due and the finding names both causes";

    /// <inheritdoc />
    protected internal override bool OnInterrupt(ReproRunner run)
    {
        ArgumentNullException.ThrowIfNull(run);
        if (!run.Armed || !run.Inject)
        {
            return false;
        }

        // The handler starts (disable_cb, which after the interrupt leaves used_event where it was) and then is busy
        // elsewhere, or stuck, before it reaches the used ring: the interrupt was delivered, not lost.
        run.DriverQueue.DisableCallbacks();
        return true;
    }
}
