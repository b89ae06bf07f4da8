using Virtio.Cli.Repro;
using Virtio.Diagnostics;

namespace Virtio.Diagnostics.Tests.Repro;

public sealed class ReproScenarioTests
{
    public static TheoryData<string, string> ScenarioOnDevice()
    {
        var data = new TheoryData<string, string>();
        foreach (ReproScenario s in ReproScenario.All)
        {
            data.Add(s.Name, "blk");
            data.Add(s.Name, "ring");
            data.Add(s.Name, "net");
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(ScenarioOnDevice))]
    public void Every_scenario_gives_its_verdict_for_seeds_and_ring_sizes(string name, string device)
    {
        ReproScenario scenario = ReproScenario.Find(name)!;
        foreach (int seed in new[] { 1, 2, 3 })
        {
            foreach (int size in new[] { 2, 16, 256 })
            {
                ReproResult r = ReproRunner.Run(scenario, new ReproOptions { Device = device, Seed = seed, RingSize = size });
                Assert.True(r.Matches, $"{name} on {device}, seed {seed}, ring {size}: expected {scenario.Expected}, found {r.Verdict}, watchdog fired {r.WatchdogFired}\n{r.Report.ToText()}");
            }
        }
    }

    [Theory]
    [MemberData(nameof(ScenarioOnDevice))]
    public void Every_scenario_gives_its_verdict_across_the_16_bit_wrap(string name, string device)
    {
        ReproScenario scenario = ReproScenario.Find(name)!;
        ReproResult r = ReproRunner.Run(scenario, new ReproOptions { Device = device, Seed = 2, RingSize = 4, StartIndex = 65530 });
        Assert.True(r.Matches, $"{name} on {device} at the wrap: found {r.Verdict}\n{r.Report.ToText()}");
        if (name != "kick-before-ready")
        {
            // The workload really ran across 65535 -> 0.
            Assert.True(r.Report.Guest.AvailIdx < 100, $"avail->idx {r.Report.Guest.AvailIdx} did not wrap");
        }
    }

    [Theory]
    [MemberData(nameof(ScenarioOnDevice))]
    public void Without_the_fault_the_same_workload_and_interleaving_stay_healthy(string name, string device)
    {
        // The control run: the racing steps still happen, only the fault seam answers "no". So the fault, not the
        // scenario's staging, is what hangs the queue.
        ReproScenario scenario = ReproScenario.Find(name)!;
        foreach (int size in new[] { 2, 16 })
        {
            ReproResult r = ReproRunner.Run(scenario, new ReproOptions { Device = device, Seed = 1, RingSize = size, InjectFault = false });
            Assert.False(r.WatchdogFired, $"{name} on {device} without the fault: {r.Diagnosis}");
            Assert.Equal(HangVerdict.Healthy, r.Verdict);
        }
    }

    [Theory]
    [InlineData("blk")]
    [InlineData("ring")]
    [InlineData("net")]
    public void Healthy_runs_to_completion_without_the_watchdog_firing(string device)
    {
        foreach (int seed in new[] { 1, 2, 3 })
        {
            ReproResult r = ReproRunner.Run(ReproScenario.Find("healthy")!, new ReproOptions { Device = device, Seed = seed, RingSize = 2 });
            Assert.False(r.WatchdogFired);
            Assert.Empty(r.Diagnosis);
            Assert.True(r.Completed >= 8, $"only {r.Completed} requests completed");
            Assert.Equal(r.Report.Guest.AvailIdx, r.Report.QueueStatus.UsedIdx);
        }
    }

    [Fact]
    public void The_correct_blk_device_serves_a_kick_sent_before_DRIVER_OK()
    {
        ReproResult r = ReproRunner.Run(ReproScenario.Find("kick-before-ready")!, new ReproOptions { Device = "blk", InjectFault = false });
        Assert.False(r.WatchdogFired);
        Assert.True(r.Completed > 0);
        Assert.Equal(HangVerdict.Healthy, r.Verdict);
    }

    [Fact]
    public void Stalled_backend_reports_the_requests_in_flight_with_their_age()
    {
        ReproResult r = ReproRunner.Run(ReproScenario.Find("stalled-backend")!, new ReproOptions { Device = "blk" });
        Assert.NotEmpty(r.Report.InFlight);
        Assert.All(r.Report.InFlight, f => Assert.True(f.Age >= ReproRunner.StallTimeout, $"age {f.Age}"));
        Assert.All(r.Report.InFlight, f => Assert.NotEmpty(f.Descriptors));
        Assert.Contains("device-stuck", r.Diagnosis, StringComparison.Ordinal);
    }

    [Fact]
    public void Same_seed_gives_the_same_run()
    {
        var o = new ReproOptions { Device = "ring", Seed = 7, RingSize = 16 };
        ReproResult a = ReproRunner.Run(ReproScenario.Find("dropped-call")!, o);
        ReproResult b = ReproRunner.Run(ReproScenario.Find("dropped-call")!, o);
        Assert.Equal(a.Report.QueueStatus, b.Report.QueueStatus);
        Assert.Equal(a.Report.Guest, b.Report.Guest);
    }
}
