using Virtio.Diagnostics;

namespace Virtio.Scenarios;

/// <summary>What a scenario run found.</summary>
/// <param name="Scenario">The scenario.</param>
/// <param name="Options">How it ran.</param>
/// <param name="Report">The hang analysis when the watchdog fired (or at the end of a run that did not hang).</param>
/// <param name="WatchdogFired">Whether the watchdog reported a stall.</param>
/// <param name="Diagnosis">The watchdog's diagnosis text (empty when it did not fire).</param>
/// <param name="Completed">Requests the guest saw completed.</param>
/// <param name="VirtioStatus">The device's x-query-virtio-status at the end.</param>
public sealed record ReproResult(
    ReproScenario Scenario,
    ReproOptions Options,
    HangReport Report,
    bool WatchdogFired,
    string Diagnosis,
    int Completed,
    VirtioStatus VirtioStatus)
{
    /// <summary>The verdict found.</summary>
    public HangVerdict Verdict => Report.Verdict;

    /// <summary>The verdict expected for how the scenario ran (with or without EVENT_IDX).</summary>
    public HangVerdict Expected => Scenario.ExpectedFor(Options.EventIdx) ?? Scenario.Expected;

    /// <summary>True when the verdict is the one expected (and the watchdog fired exactly when the fault hangs the queue).</summary>
    public bool Matches => Verdict == Expected && WatchdogFired == Scenario.Hangs;
}
