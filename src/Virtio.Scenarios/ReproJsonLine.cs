using Virtio.Diagnostics;

namespace Virtio.Scenarios;

/// <summary>
/// One line of <c>virtio repro --format json</c> (JSON Lines): the run in camelCase, with the findings and the queue
/// status as the hang report writes them (the status keeps QMP's kebab-case names, as it mirrors a QMP reply).
/// </summary>
/// <param name="Scenario">The scenario's name.</param>
/// <param name="Device">The device: blk, ring or net.</param>
/// <param name="Seed">The seed.</param>
/// <param name="RingSize">The queue size.</param>
/// <param name="Fault">The fault injected.</param>
/// <param name="Expected">The verdict expected, by its stable name.</param>
/// <param name="Verdict">The verdict found, by its stable name.</param>
/// <param name="Matches">Whether the verdict is the one expected.</param>
/// <param name="WatchdogFired">Whether the watchdog reported a stall.</param>
/// <param name="Findings">The analysis' findings.</param>
/// <param name="QueueStatus">The queue as <c>x-query-virtio-queue-status</c> returns it.</param>
public sealed record ReproJsonLine(
    string Scenario,
    string Device,
    int Seed,
    int RingSize,
    string Fault,
    string Expected,
    string Verdict,
    bool Matches,
    bool WatchdogFired,
    IReadOnlyList<HangFinding> Findings,
    QueueStatus QueueStatus)
{
    /// <summary>The line for <paramref name="result"/>.</summary>
    public static ReproJsonLine From(ReproResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        return new ReproJsonLine(
            result.Scenario.Name,
            result.Options.Device,
            result.Options.Seed,
            result.Options.RingSize,
            result.Scenario.Fault,
            HangReport.VerdictName(result.Expected),
            HangReport.VerdictName(result.Verdict),
            result.Matches,
            result.WatchdogFired,
            result.Report.Findings,
            result.Report.QueueStatus);
    }

    /// <summary>The line as compact JSON, through source generation; '&gt;' stays unescaped (the findings quote <c>avail-&gt;idx</c>).</summary>
    public string ToJson() => System.Text.Json.JsonSerializer.Serialize(this, ScenariosJsonContext.Relaxed.ReproJsonLine);
}
