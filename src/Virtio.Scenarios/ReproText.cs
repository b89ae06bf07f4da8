using System.Globalization;
using System.Text;
using Virtio.Diagnostics;
using Virtio.Scenarios.Adapters;

namespace Virtio.Scenarios;

/// <summary>How <c>virtio repro</c> prints results for a person: a table of every scenario, or one scenario in full.</summary>
public static class ReproText
{
    /// <summary>The table of <c>virtio repro</c> without a name.</summary>
    public static string Table(IReadOnlyList<ReproResult> results)
    {
        ArgumentNullException.ThrowIfNull(results);
        CultureInfo c = CultureInfo.InvariantCulture;
        var s = new StringBuilder();
        const string Row = "{0,-28} {1,-55} {2,-27} {3,-27} {4,6} {5,6} {6,6} {7,6} {8,6} {9,5}  {10}\n";
        s.AppendFormat(c, Row, "scenario", "fault injected", "expected", "found", "avail", "shadow", "last", "used", "u_evt", "inuse", "");
        foreach (ReproResult r in results)
        {
            QueueStatus q = r.Report.QueueStatus;
            s.AppendFormat(
                c,
                Row,
                r.Scenario.Name,
                r.Scenario.Fault,
                HangReport.VerdictName(r.Expected),
                HangReport.VerdictName(r.Verdict),
                r.Report.Guest.AvailIdx,
                q.ShadowAvailIdx,
                q.LastAvailIdx,
                q.UsedIdx,
                r.Report.Guest.UsedEvent,
                q.InUse,
                r.Matches ? "ok" : "MISMATCH");
        }

        int ok = results.Count(r => r.Matches);
        s.Append(c, $"{ok}/{results.Count} verdicts as expected (avail = avail->idx in guest RAM, shadow = shadow_avail_idx, last = last_avail_idx, used = used_idx, u_evt = used_event)\n");
        return s.ToString();
    }

    /// <summary>One scenario: what was injected, the watchdog's report, the walk-through and the HMP status.</summary>
    public static string One(ReproResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        CultureInfo c = CultureInfo.InvariantCulture;
        var s = new StringBuilder();
        ReproOptions o = result.Options;
        string device = result.Options.Device;
        s.Append(c, $"scenario {result.Scenario.Name} on {device}, seed {o.Seed}, ring size {o.RingSize}, start index {o.StartIndex}\n");
        s.Append(c, $"fault: {result.Scenario.Fault}: {result.Scenario.Why}\n");
        s.Append(c, $"expected {HangReport.VerdictName(result.Expected)}, found {HangReport.VerdictName(result.Verdict)}: {(result.Matches ? "ok" : "MISMATCH")}\n");
        s.Append(c, $"watchdog: {(result.WatchdogFired ? $"fired after {ReproRunner.StallTimeout.TotalSeconds} s without progress" : "did not fire")}; {result.Completed} request(s) completed\n\n");
        s.Append(result.Report.ToText());
        s.Append('\n');
        s.Append(result.Report.QueueStatus.ToHmpText(ScenarioDevice.Create(device)?.QomPath ?? "/machine/peripheral/virtio0/virtio-backend"));
        return s.ToString();
    }
}
