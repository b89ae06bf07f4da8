using Virtio.Cli.CommandLine;

namespace Virtio.Cli.Tests;

/// <summary>Every value <c>virtio repro</c> accepts runs: the ends of each range, not only the defaults.</summary>
public sealed class ReproRangeTests
{
    [Theory]
    [InlineData("ring")]
    [InlineData("net")]
    public void Repro_runs_with_the_largest_ring_it_accepts(string device)
    {
        (int exit, string stdout, string stderr) = VirtioCommand.Run(
            "repro", "dropped-kick", "--device", device, "--ring-size", CliOption.MaxRingSize.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.True(exit == ExitCodes.Success, stdout + stderr);
        Assert.Contains("expected device-missed-kick, found device-missed-kick: ok", stdout, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("ring")]
    [InlineData("blk")]
    [InlineData("net")]
    public void Repro_runs_every_scenario_with_the_smallest_ring_at_the_last_start_index(string device)
    {
        (int exit, string stdout, string stderr) = VirtioCommand.Run(
            "repro", "--device", device, "--ring-size", "2", "--start-index", "65535", "--seed", "-7");
        Assert.True(exit == ExitCodes.Success, stdout + stderr);
        int all = Virtio.Scenarios.ReproScenario.All.Count;
        Assert.Contains($"{all}/{all} verdicts as expected", stdout, StringComparison.Ordinal);
    }
}
