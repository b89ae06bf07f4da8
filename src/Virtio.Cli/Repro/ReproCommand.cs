using System.CommandLine;
using Virtio.Cli.CommandLine;
using Virtio.Diagnostics;
using Virtio.Scenarios;

namespace Virtio.Cli.Repro;

/// <summary>
/// <c>virtio repro [NAME]</c>: reproduces hangs on purpose and checks that the analysis names them. Without a name it
/// runs every scenario and prints a table.
/// </summary>
internal static class ReproCommand
{
    /// <summary>The exit codes (<see cref="ExitCodes"/>): every verdict matched; bad input or a scenario that could not run; a verdict was not the expected one.</summary>
    public const int ExitMatched = ExitCodes.Success, ExitBadInput = ExitCodes.Error, ExitMismatch = ExitCodes.Found;

    public static Command Build(TextWriter? output = null, TextWriter? error = null)
    {
        Argument<string?> name = CliOption.ChoiceArgument("scenario", "scenario", "the scenario to run (default: all)", [.. ReproScenario.All.Select(s => s.Name)]);
        Option<string> device = CliOption.Choice("--device", "the device whose queue hangs", "blk", "ring", "blk", "net");
        Option<int> seed = CliOption.WholeNumber("--seed", "seeds batch sizes and when the fault strikes", 1, int.MinValue, int.MaxValue);
        Option<int> ringSize = CliOption.RingSize($"queue size (a power of two from {CliOption.MinRingSize} to {CliOption.MaxRingSize})", 16);
        Option<int> startIndex = CliOption.WholeNumber("--start-index", "ring index to start the workload at, 0 to 65535 (65530: just before the 16-bit wrap)", 0, 0, ushort.MaxValue);
        var format = OutputFormat.Create("output format: json is JSON Lines, hmp the queue as HMP prints it", "hmp");
        Option<string?> eventIdx = CliOption.Bool("--event-idx", "negotiate VIRTIO_RING_F_EVENT_IDX (true|false); without it only the scenarios that do not race on avail_event/used_event run", true);
        Option<DirectoryInfo?> dump = CliOption.OutputDirectory("--dump", "write ram.bin, queue-status.json and virtio-status.json into this directory (one scenario)");

        var command = new Command("repro", "Reproduce virtqueue hangs on purpose and check the analysis names each one")
        {
            name, device, seed, ringSize, startIndex, format.Format, format.Json, eventIdx, dump,
        };
        CliRun.SetAction(command, "repro", format, output, error, run =>
        {
            string? scenarioName = run.Parse.GetValue(name);
            DirectoryInfo? dumpDir = run.Get(dump);
            if (dumpDir is not null && scenarioName is null)
            {
                return run.Fail("--dump needs a scenario name (it saves one queue)");
            }

            bool withEventIdx = run.Parse.GetBoolean(eventIdx) ?? true;

            // Off unless asked for: the scenarios break the device on purpose, and its virtio_error lines would
            // only repeat what the report says.
            using Microsoft.Extensions.Logging.ILoggerFactory logging = run.Logging(Microsoft.Extensions.Logging.LogLevel.None);
            var options = new ReproOptions
            {
                Device = run.Get(device)!, Seed = run.Get(seed), RingSize = run.Get(ringSize),
                StartIndex = (ushort)run.Get(startIndex), EventIdx = withEventIdx, DumpDirectory = dumpDir?.FullName, LoggerFactory = logging,
            };
            if (ReproScenario.Select(scenarioName, withEventIdx, out string? refusal) is not { } scenarios)
            {
                return run.Fail(refusal!);
            }

            var results = new List<ReproResult>();
            try
            {
                foreach (ReproScenario scenario in scenarios)
                {
                    results.Add(ReproRunner.Run(scenario, options));
                    if (run.Json)
                    {
                        run.Out.Write(ReproJsonLine.From(results[^1]).ToJson() + "\n");
                    }
                }
            }
            catch (Exception e) when (dumpDir is not null && e is IOException or UnauthorizedAccessException)
            {
                return run.Fail($"--dump {dumpDir}: {Program.OneLine(e.Message)}");
            }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException)
            {
                // The options passed the checks above, so this is a scenario that could not set itself up.
                return run.Fail($"the scenario could not run: {Program.OneLine(e.Message)}");
            }

            return run.Print(
                run.Format switch
                {
                    "hmp" => ReproText.Hmp(results),
                    "text" => scenarioName is null ? ReproText.Table(results) : ReproText.One(results[0]),
                    _ => string.Empty, // json: written line by line above
                },
                ExitCodeFor(results));
        });
        return command;
    }

    public static int ExitCodeFor(IReadOnlyList<ReproResult> results) => results.All(r => r.Matches) ? ExitMatched : ExitMismatch;
}
