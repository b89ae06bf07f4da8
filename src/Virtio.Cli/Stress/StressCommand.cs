using System.CommandLine;
using Virtio.Cli.CommandLine;
using Virtio.Workloads.Stress;

namespace Virtio.Cli.Stress;

/// <summary>
/// <c>virtio stress</c>: the command-line face of <see cref="RingStress"/>. Exit codes as <see cref="ExitCodes"/>: 0
/// nothing lost; 2 a buffer lost, duplicated, corrupted or a side stalled; 1 bad input.
/// </summary>
internal static class StressCommand
{
    public static Command Build()
    {
        Option<long> buffers = CliOption.WholeNumber("--buffers", "buffers to move in all, over as many seeds as that takes", 1_000_000, 1, long.MaxValue);
        Option<long> seed = CliOption.WholeNumber("--seed", "the seed every configuration and buffer derives from (0 or more)", 1, 0, long.MaxValue);
        var format = OutputFormat.Create("output format: json prints one object");
        var command = new Command("stress", "A Linux-model driver and a QEMU-model device on two threads across many seeds; fails on any buffer lost, duplicated or corrupted, or a stall")
        {
            buffers, seed, format.Format, format.Json,
        };
        CliRun.SetAction(command, "stress", format, null, null, run =>
        {
            var options = new RingStressOptions
            {
                Buffers = run.Get(buffers),
                Seed = (ulong)run.Get(seed),
                Progress = p => run.Error.WriteLine(RingStressReport.ProgressLine(p)),
            };
            using var stress = new RingStress(options);
            RingStressResult result = stress.Run();
            return run.Print(run.Json ? RingStressReport.ToJson(result) + "\n" : RingStressReport.ToText(result), result.Passed ? ExitCodes.Success : ExitCodes.Found);
        });
        return command;
    }
}
