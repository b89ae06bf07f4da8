using Virtio.Diagnostics;
using Virtio.Faults;
using Virtio.Scenarios.Adapters;
using Virtio.Scenarios.Catalog;

namespace Virtio.Scenarios;

/// <summary>
/// One hang, reproduced on purpose: its name, the fault injected, the verdict the analysis must give, and the hooks by
/// which it acts at the fixed points of a <see cref="ReproRunner"/> run. Adding a scenario is one subclass in
/// <c>Catalog/</c> and one line in <see cref="All"/> (which fixes the order <c>virtio repro</c> prints).
/// </summary>
/// <remarks>
/// The instances in <see cref="All"/> describe the scenarios; each run calls the hooks on a fresh copy
/// (<see cref="ForOneRun"/>), so a scenario may keep the state of its race in private fields.
/// </remarks>
public abstract class ReproScenario
{
    /// <summary>The stable name (<c>virtio repro NAME</c>).</summary>
    public abstract string Name { get; }

    /// <summary>What is injected, in a few words.</summary>
    public abstract string Fault { get; }

    /// <summary>The verdict the hang analysis must reach with VIRTIO_RING_F_EVENT_IDX.</summary>
    public abstract HangVerdict Expected { get; }

    /// <summary>Why the fault hangs the queue: the interleaving that loses the wake-up.</summary>
    public abstract string Why { get; }

    /// <summary>
    /// The verdict without VIRTIO_RING_F_EVENT_IDX, or null when the scenario's race needs EVENT_IDX (it plays with
    /// <c>avail_event</c> or <c>used_event</c>). It may differ from <see cref="Expected"/>: without EVENT_IDX the
    /// driver's position in the used ring is not in guest RAM, so a lost interrupt cannot be seen there.
    /// </summary>
    public virtual HangVerdict? ExpectedWithoutEventIdx => Expected;

    /// <summary>The devices (<see cref="ScenarioDevice.Names"/>) the scenario runs on; every one unless it says otherwise.</summary>
    public virtual IReadOnlyList<string> Devices => ScenarioDevice.Names;

    /// <summary>Whether <see cref="ReproOptions.StartIndex"/> applies (false when the fault needs a fresh queue).</summary>
    public virtual bool HonoursStartIndex => !KicksBeforeDriverOk;

    /// <summary>Whether the fault hangs the queue (the watchdog must fire), with or without EVENT_IDX.</summary>
    public bool Hangs => Expected != HangVerdict.Healthy;

    /// <summary>The verdict expected with or without EVENT_IDX; null when the scenario needs EVENT_IDX.</summary>
    public HangVerdict? ExpectedFor(bool eventIdx) => eventIdx ? Expected : ExpectedWithoutEventIdx;

    /// <summary>Every scenario, in the order <c>virtio repro</c> runs them.</summary>
    public static IReadOnlyList<ReproScenario> All { get; } =
    [
        new HealthyScenario(),
        new DroppedKickScenario(),
        new DroppedCallScenario(),
        new SlowInterruptHandlerScenario(),
        new StalledBackendScenario(),
        new StaleAvailEventScenario(),
        new NotificationsLeftDisabledScenario(),
        new KickBeforeReadyScenario(),
        new DriverMissingBarrierScenario(),
        new DeviceMissingBarrierScenario(),
        new HostileDescriptorLoopScenario(),
    ];

    /// <summary>
    /// The scenarios <c>virtio repro</c> runs: the one named, or without a name every scenario that has an expected
    /// verdict with EVENT_IDX negotiated as <paramref name="eventIdx"/> says.
    /// </summary>
    /// <returns>The scenarios, or null with <paramref name="error"/> saying why (no such scenario, or one that needs EVENT_IDX).</returns>
    public static IReadOnlyList<ReproScenario>? Select(string? name, bool eventIdx, out string? error)
    {
        error = null;
        if (name is null)
        {
            return [.. All.Where(s => s.ExpectedFor(eventIdx) is not null)];
        }

        ReproScenario? scenario = Find(name);
        error = scenario is null ? $"no scenario named {name}"
            : scenario.ExpectedFor(eventIdx) is null ? $"{name} needs VIRTIO_RING_F_EVENT_IDX (its race is on avail_event or used_event); drop --event-idx false"
            : null;
        return error is null ? [scenario!] : null;
    }

    /// <summary>The scenario named <paramref name="name"/>, or null.</summary>
    public static ReproScenario? Find(string name) => All.FirstOrDefault(s => s.Name == name);

    /// <inheritdoc />
    public override string ToString() => Name;

    // ---- Hooks: the fixed points of a run. Each does nothing unless a scenario overrides it. ----

    /// <summary>
    /// The guest adds its first batch and kicks before DRIVER_OK (Linux may notify as soon as a queue is set up), and
    /// the run is that one batch; otherwise the guest sets DRIVER_OK first and runs its batches.
    /// </summary>
    protected internal virtual bool KicksBeforeDriverOk => false;

    /// <summary>The scenario adds one request inside the device's handler, so each batch leaves it a descriptor.</summary>
    protected internal virtual bool AddsRacingRequest => false;

    /// <summary>Before DRIVER_OK: replace the kick or call channel, as a VMM wires ioeventfd and irqfd before the guest runs.</summary>
    protected internal virtual void InstallChannels(ReproRunner run)
    {
    }

    /// <summary>The fault is armed (at a seeded batch): from now on it may strike.</summary>
    protected internal virtual void OnArmed(ReproRunner run)
    {
    }

    /// <summary>Before the guest adds a batch.</summary>
    protected internal virtual void BeforeBatch(ReproRunner run)
    {
    }

    /// <summary>After the guest added a batch, before its kick.</summary>
    protected internal virtual void AfterBatchAdded(ReproRunner run)
    {
    }

    /// <summary>After the guest's kick for a batch.</summary>
    protected internal virtual void AfterKick(ReproRunner run)
    {
    }

    /// <summary>
    /// The guest took an interrupt and found used buffers; true when the scenario handled it (the runner's handler,
    /// which drains the used ring and re-enables callbacks, is then skipped).
    /// </summary>
    protected internal virtual bool OnInterrupt(ReproRunner run) => false;

    /// <summary>A step of the device at one of its fault seams, once armed; true injects the fault at that point.</summary>
    protected internal virtual bool DeviceStep(ReproRunner run, RingFaultPoint point, ushort ringIndex) => false;

    /// <summary>A step of the guest driver at one of its fault seams; true injects the fault at that point.</summary>
    protected internal virtual bool DriverStep(ReproRunner run, RingFaultPoint point) => false;

    /// <summary>A fresh copy for one run: per-run fields start at their defaults.</summary>
    internal ReproScenario ForOneRun() => (ReproScenario)MemberwiseClone();
}
