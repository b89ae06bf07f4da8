using Virtio.Diagnostics;
using Virtio.Faults;

namespace Virtio.Scenarios.Catalog;

/// <summary>
/// What the two races on <c>avail_event</c> share (<see cref="DriverMissingBarrierScenario"/>,
/// <see cref="StaleAvailEventScenario"/>): once in a run, while the device enables notifications, the driver adds a
/// racing request whose kick decision reads a stale <c>avail_event</c>, and the kick is lost.
/// </summary>
public abstract class AvailEventRaceScenario : ReproScenario
{
    /// <summary>Device-missed-kick: the device sleeps with a buffer it was never told of.</summary>
    public override HangVerdict Expected => HangVerdict.DeviceMissedKick;

    /// <summary>Null: the race is on <c>avail_event</c>, which exists only with EVENT_IDX.</summary>
    public override HangVerdict? ExpectedWithoutEventIdx => null;

    /// <inheritdoc />
    protected internal override bool AddsRacingRequest => true;

    /// <inheritdoc />
    protected internal sealed override bool DeviceStep(ReproRunner run, RingFaultPoint point, ushort ringIndex)
    {
        ArgumentNullException.ThrowIfNull(run);
        return !run.Raced && Race(run, point);
    }

    /// <summary>The device is at <paramref name="point"/> and the race has not happened yet: run it there, setting <see cref="ReproRunner.Raced"/>, or wait.</summary>
    /// <returns>Whether the device skips the step at <paramref name="point"/> (the fault).</returns>
    protected abstract bool Race(ReproRunner run, RingFaultPoint point);
}
