using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Virtio.Diagnostics;

namespace Virtio.Cli.Repro;

/// <summary>
/// <c>virtio repro [NAME]</c>: reproduces hangs on purpose and checks that the analysis names them. Without a name it
/// runs every scenario and prints a table; exit code 0 only when every verdict is the expected one.
/// </summary>
public static class ReproCommand
{
    /// <summary>Exit code when every verdict matched.</summary>
    public const int ExitMatched = 0;

    /// <summary>Exit code for a mismatch, or an option out of range.</summary>
    public const int ExitFailed = 1;

    /// <summary>Builds the command, writing to <paramref name="output"/> and <paramref name="error"/> (default: the console).</summary>
    public static Command Build(TextWriter? output = null, TextWriter? error = null)
    {
        var name = new Argument<string?>("scenario") { Description = "the scenario to run (default: all)", Arity = ArgumentArity.ZeroOrOne };
        name.AcceptOnlyFromAmong([.. ReproScenario.All.Select(s => s.Name)]);
        var device = new Option<string>("--device") { Description = "ring, blk or net", DefaultValueFactory = _ => "blk" };
        device.AcceptOnlyFromAmong("ring", "blk", "net");
        var seed = new Option<int>("--seed") { Description = "seeds batch sizes and when the fault strikes", DefaultValueFactory = _ => 1 };
        var ringSize = new Option<int>("--ring-size") { Description = "queue size (power of two, >= 2)", DefaultValueFactory = _ => 16 };
        var startIndex = new Option<int>("--start-index") { Description = "ring index to start the workload at (65530: just before the 16-bit wrap)", DefaultValueFactory = _ => 0 };
        var format = new Option<string>("--format") { Description = "text, json (JSON Lines) or hmp", DefaultValueFactory = _ => "text" };
        format.AcceptOnlyFromAmong("text", "json", "hmp");
        var json = new Option<bool>("--json") { Description = "same as --format json" };
        var eventIdx = new Option<bool>("--event-idx") { Description = "negotiate VIRTIO_RING_F_EVENT_IDX (true|false); without it only the scenarios that do not race on avail_event/used_event run", DefaultValueFactory = _ => true };
        var dump = new Option<DirectoryInfo?>("--dump") { Description = "write ram.bin, queue-status.json and virtio-status.json here (one scenario)" };

        var command = new Command("repro", "Reproduce virtqueue hangs on purpose and check the analysis names each one")
        {
            name, device, seed, ringSize, startIndex, format, json, eventIdx, dump,
        };
        command.SetAction(parse =>
        {
            TextWriter stdout = output ?? Console.Out;
            TextWriter stderr = error ?? Console.Error;
            string fmt = parse.GetValue(json) ? "json" : parse.GetValue(format)!;
            string? scenarioName = parse.GetValue(name);
            string deviceName = parse.GetValue(device)!;
            int size = parse.GetValue(ringSize);
            int start = parse.GetValue(startIndex);
            if (start is < 0 or > ushort.MaxValue)
            {
                stderr.WriteLine($"virtio repro: --start-index {start} is not a 16-bit ring index");
                return ExitFailed;
            }

            DirectoryInfo? dumpDir = parse.GetValue(dump);
            if (dumpDir is not null && scenarioName is null)
            {
                stderr.WriteLine("virtio repro: --dump needs a scenario name");
                return ExitFailed;
            }

            bool withEventIdx = parse.GetValue(eventIdx);
            var options = new ReproOptions { Device = deviceName, Seed = parse.GetValue(seed), RingSize = size, StartIndex = (ushort)start, EventIdx = withEventIdx, DumpDirectory = dumpDir?.FullName };
            IEnumerable<ReproScenario> scenarios = scenarioName is null
                ? ReproScenario.All.Where(s => s.ExpectedFor(withEventIdx) is not null)
                : [ReproScenario.Find(scenarioName)!];
            if (scenarioName is not null && ReproScenario.Find(scenarioName)!.ExpectedFor(withEventIdx) is null)
            {
                stderr.WriteLine($"virtio repro: {scenarioName} needs VIRTIO_RING_F_EVENT_IDX (its race is on avail_event or used_event); drop --event-idx false");
                return ExitFailed;
            }

            var results = new List<ReproResult>();
            try
            {
                foreach (ReproScenario scenario in scenarios)
                {
                    ReproResult r = ReproRunner.Run(scenario, options);
                    results.Add(r);
                    if (fmt == "json")
                    {
                        stdout.Write(ToJsonLine(r) + "\n");
                    }
                }
            }
            catch (ArgumentException e)
            {
                stderr.WriteLine($"virtio repro: {e.Message}");
                return ExitFailed;
            }

            if (fmt == "hmp")
            {
                foreach (ReproResult r in results)
                {
                    stdout.Write(r.Report.QueueStatus.ToHmpText(ScenarioDevice.Create(deviceName)!.QomPath));
                }
            }
            else if (fmt == "text")
            {
                stdout.Write(scenarioName is null ? FormatTable(results) : FormatOne(results[0], deviceName));
            }

            stdout.Flush();
            return results.TrueForAll(r => r.Matches) ? ExitMatched : ExitFailed;
        });
        return command;
    }

    /// <summary>The table of <c>virtio repro</c> without a name.</summary>
    public static string FormatTable(IReadOnlyList<ReproResult> results)
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
    public static string FormatOne(ReproResult result, string device)
    {
        ArgumentNullException.ThrowIfNull(result);
        CultureInfo c = CultureInfo.InvariantCulture;
        var s = new StringBuilder();
        ReproOptions o = result.Options;
        s.Append(c, $"scenario {result.Scenario.Name} on {device}, seed {o.Seed}, ring size {o.RingSize}, start index {o.StartIndex}\n");
        s.Append(c, $"fault: {result.Scenario.Fault}: {result.Scenario.Why}\n");
        s.Append(c, $"expected {HangReport.VerdictName(result.Expected)}, found {HangReport.VerdictName(result.Verdict)}: {(result.Matches ? "ok" : "MISMATCH")}\n");
        s.Append(c, $"watchdog: {(result.WatchdogFired ? $"fired after {ReproRunner.StallTimeout.TotalSeconds} s without progress" : "did not fire")}; {result.Completed} request(s) completed\n\n");
        s.Append(result.Report.ToText());
        s.Append('\n');
        s.Append(result.Report.QueueStatus.ToHmpText(ScenarioDevice.Create(device)?.QomPath ?? "/machine/peripheral/virtio0/virtio-backend"));
        return s.ToString();
    }

    /// <summary>One JSON Lines object: scenario, expected, verdict, findings, queueStatus.</summary>
    public static string ToJsonLine(ReproResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        using JsonDocument report = JsonDocument.Parse(result.Report.ToJson());
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            w.WriteString("scenario", result.Scenario.Name);
            w.WriteString("device", result.Options.Device);
            w.WriteNumber("seed", result.Options.Seed);
            w.WriteNumber("ringSize", result.Options.RingSize);
            w.WriteString("fault", result.Scenario.Fault);
            w.WriteString("expected", HangReport.VerdictName(result.Expected));
            w.WriteString("verdict", HangReport.VerdictName(result.Verdict));
            w.WriteBoolean("matches", result.Matches);
            w.WriteBoolean("watchdogFired", result.WatchdogFired);
            w.WritePropertyName("findings");
            report.RootElement.GetProperty("findings").WriteTo(w);
            w.WritePropertyName("queueStatus");
            report.RootElement.GetProperty("queue-status").WriteTo(w);
            w.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.ToArray());
    }
}
