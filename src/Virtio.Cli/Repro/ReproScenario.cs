using Virtio.Diagnostics;

namespace Virtio.Cli.Repro;

/// <summary>One hang, reproduced on purpose: its name, the fault injected and the verdict the analysis must give.</summary>
/// <param name="Name">The stable name (<c>virtio repro NAME</c>).</param>
/// <param name="Fault">What is injected, in a few words.</param>
/// <param name="Expected">The verdict the hang analysis must reach.</param>
/// <param name="Why">Why the fault hangs the queue: the interleaving that loses the wake-up.</param>
public sealed record ReproScenario(string Name, string Fault, HangVerdict Expected, string Why)
{
    /// <summary>
    /// The verdict without VIRTIO_RING_F_EVENT_IDX, or null when the scenario's race needs EVENT_IDX (it plays with
    /// <c>avail_event</c> or <c>used_event</c>). It may differ from <see cref="Expected"/>: without EVENT_IDX the
    /// driver's position in the used ring is not in guest RAM, so a lost interrupt cannot be seen there.
    /// </summary>
    public HangVerdict? ExpectedWithoutEventIdx { get; init; }

    /// <summary>Whether the fault hangs the queue (the watchdog must fire), with or without EVENT_IDX.</summary>
    public bool Hangs => Expected != HangVerdict.Healthy;

    /// <summary>The verdict expected with or without EVENT_IDX; null when the scenario needs EVENT_IDX.</summary>
    public HangVerdict? ExpectedFor(bool eventIdx) => eventIdx ? Expected : ExpectedWithoutEventIdx;

    /// <summary>Every scenario, in the order <c>virtio repro</c> runs them.</summary>
    public static IReadOnlyList<ReproScenario> All { get; } =
    [
        new("healthy", "none", HangVerdict.Healthy,
            "no fault: every batch completes and the watchdog stays quiet") { ExpectedWithoutEventIdx = HangVerdict.Healthy },
        new("dropped-kick", "kick channel drops a kick", HangVerdict.DeviceMissedKick,
            "the driver kicks for a batch (avail_event asked for it), the kick channel swallows it, the device sleeps on its ioeventfd") { ExpectedWithoutEventIdx = HangVerdict.DeviceMissedKick },
        new("dropped-call", "call channel drops an interrupt", HangVerdict.DriverMissedNotification,
            "the device completes the batch and signals, the call channel swallows the interrupt, the driver waits for it with used_event at its position") { ExpectedWithoutEventIdx = HangVerdict.Healthy },
        new("slow-interrupt-handler", "interrupt delivered, driver stays in its handler", HangVerdict.DriverMissedNotification,
            "the device completes the batch and the interrupt arrives; the driver's handler disables callbacks (event_triggered: used_event stays at its position, Linux 6.4 / 6.1.28) and then does not get to the used ring. The ring looks exactly as after a lost interrupt: the verdict says a notification was due and the finding names both causes") { ExpectedWithoutEventIdx = HangVerdict.Healthy },
        new("stalled-backend", "backend holds requests", HangVerdict.DeviceStuck,
            "the device pops the batch and hands it to its backend, which never completes it") { ExpectedWithoutEventIdx = HangVerdict.DeviceStuck },
        new("stale-avail-event", "device skips the re-check after enabling notifications", HangVerdict.DeviceMissedKick,
            "the driver adds a buffer while the device's avail_event store is not yet visible, so it reads the stale avail_event and does not kick; the device then goes to sleep without re-reading avail->idx"),
        new("notifications-left-disabled", "device never re-enables notifications", HangVerdict.DeviceMissedKick,
            "after draining a batch the device leaves avail_event behind, so the driver's next batch is published without a kick") { ExpectedWithoutEventIdx = HangVerdict.DeviceMissedKick },
        new("kick-before-ready", "device drops a kick sent before DRIVER_OK", HangVerdict.DeviceMissedKick,
            "the driver adds and kicks before DRIVER_OK; the device drops the kick and does not look at the ring on activation (Firecracker before 0899ee515)") { ExpectedWithoutEventIdx = HangVerdict.DeviceMissedKick },
        new("driver-missing-barrier", "driver reads avail_event before its avail->idx store", HangVerdict.DeviceMissedKick,
            "the driver reads avail_event before its avail->idx store is visible; the device meanwhile enables notifications, re-checks, sees nothing and sleeps; the driver's stale avail_event says no kick"),
        new("device-missing-barrier", "device reads used_event before its used->idx store", HangVerdict.DriverMissedNotification,
            "the device reads used_event (0, callbacks disabled) before its used->idx store is visible; the driver meanwhile re-enables callbacks, polls, sees nothing and sleeps; the device's stale used_event says no interrupt"),
        new("hostile-descriptor-loop", "driver writes a descriptor loop", HangVerdict.QueueBroken,
            "the driver publishes a chain whose descriptor points at itself; the device detects the loop and breaks the queue (NEEDS_RESET)") { ExpectedWithoutEventIdx = HangVerdict.QueueBroken },
    ];

    /// <summary>The scenario named <paramref name="name"/>, or null.</summary>
    public static ReproScenario? Find(string name) => All.FirstOrDefault(s => s.Name == name);
}
