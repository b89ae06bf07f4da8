using System.Globalization;
using System.Text;
using Virtio.Diagnostics;
using Virtio.Scenarios.Adapters;

namespace Virtio.Scenarios;

/// <summary>How <c>virtio repro</c> prints results for a person: a table of every scenario, or one scenario in full.</summary>
public static class ReproText
{
    /// <summary>The widest line <see cref="Table"/> prints: a terminal of 100 columns shows it unwrapped.</summary>
    public const int TableWidth = 100;

    /// <summary>
    /// The table of <c>virtio repro</c> without a name, at most <see cref="TableWidth"/> columns: the verdict found and
    /// the ring indexes per scenario. The fault's description is in the single-scenario report and the JSON lines; the
    /// expected verdict is printed under a row only when it differs from the one found.
    /// </summary>
    public static string Table(IReadOnlyList<ReproResult> results)
    {
        ArgumentNullException.ThrowIfNull(results);
        CultureInfo c = CultureInfo.InvariantCulture;
        var s = new StringBuilder();

        // 27 + 1 + 26 + 6 * 6 + 2 + 8 ("MISMATCH") = 100.
        const string Row = "{0,-27} {1,-26}{2,6}{3,6}{4,6}{5,6}{6,6}{7,6}  {8}\n";
        s.AppendFormat(c, Row, "scenario", "verdict", "avail", "shad", "last", "used", "u_evt", "inuse", "");
        foreach (ReproResult r in results)
        {
            QueueStatus q = r.Report.QueueStatus;
            s.AppendFormat(
                c,
                Row,
                r.Scenario.Name,
                HangReport.VerdictName(r.Verdict),
                r.Report.Guest.AvailIdx,
                q.ShadowAvailIdx,
                q.LastAvailIdx,
                q.UsedIdx,
                r.Report.Guest.UsedEvent,
                q.InUse,
                r.Matches ? "ok" : "MISMATCH");
            if (!r.Matches)
            {
                s.Append(c, $"{string.Empty,-27} expected {HangReport.VerdictName(r.Expected)}\n");
            }
        }

        int ok = results.Count(r => r.Matches);
        s.Append(c, $"{ok}/{results.Count} verdicts as expected; the fault each injects: virtio repro NAME, or --json\n");
        s.Append("avail = avail->idx in guest RAM, shad = shadow_avail_idx, last = last_avail_idx,\n");
        s.Append("used = used_idx, u_evt = used_event in guest RAM, inuse = requests in flight\n");
        return s.ToString();
    }

    /// <summary>
    /// <c>virtio repro --format hmp</c>: each result's queue as HMP's <c>info virtio-queue-status</c> prints it, after
    /// a comment line that names the scenario (the blocks are otherwise alike in their first lines).
    /// </summary>
    public static string Hmp(IEnumerable<ReproResult> results)
    {
        ArgumentNullException.ThrowIfNull(results);
        var s = new StringBuilder();
        foreach (ReproResult r in results)
        {
            string qomPath = ScenarioDevice.Create(r.Options.Device)?.QomPath ?? throw new ArgumentException($"no scenario device named {r.Options.Device}", nameof(results));
            s.Append(CultureInfo.InvariantCulture, $"# scenario {r.Scenario.Name}\n").Append(r.Report.QueueStatus.ToHmpText(qomPath));
        }

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
