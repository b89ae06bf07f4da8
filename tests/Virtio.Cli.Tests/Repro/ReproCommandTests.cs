using System.Text.Json;
using Virtio.Cli.Repro;
using Virtio.Scenarios;
using Virtio.Diagnostics;

namespace Virtio.Cli.Tests.Repro;

public sealed class ReproCommandTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "virtio-repro-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }

    private static (int Exit, string Out, string Err) Invoke(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int exit = ReproCommand.Build(output, error).Parse(args).Invoke();
        return (exit, output.ToString(), error.ToString());
    }

    [Fact]
    public void Table_lines_fit_100_columns()
    {
        (int exit, string text, _) = Invoke();

        Assert.Equal(0, exit);
        Assert.All(text.Split('\n'), line => Assert.True(line.Length <= 100, $"{line.Length} columns: {line}"));
    }

    [Fact]
    public void No_arguments_runs_every_scenario_and_exits_0()
    {
        (int exit, string text, _) = Invoke();
        Assert.Equal(0, exit);
        foreach (ReproScenario s in ReproScenario.All)
        {
            Assert.Contains(s.Name, text, StringComparison.Ordinal);
        }

        int n = ReproScenario.All.Count;
        Assert.Contains($"{n}/{n} verdicts as expected", text, StringComparison.Ordinal);
        Assert.DoesNotContain("MISMATCH", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Json_prints_one_object_per_scenario()
    {
        (int exit, string text, _) = Invoke("--json", "--device", "ring");
        Assert.Equal(0, exit);
        string[] lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(ReproScenario.All.Count, lines.Length);
        foreach (string line in lines)
        {
            using JsonDocument d = JsonDocument.Parse(line);
            JsonElement o = d.RootElement;
            Assert.Equal(o.GetProperty("expected").GetString(), o.GetProperty("verdict").GetString());
            Assert.Equal(4, o.GetProperty("findings").GetArrayLength());
            Assert.True(o.GetProperty("queueStatus").TryGetProperty("shadow-avail-idx", out _));
        }
    }

    [Fact]
    public void Hmp_format_labels_each_block_with_its_scenario()
    {
        (int exit, string text, _) = Invoke("--format", "hmp", "--device", "ring");
        Assert.Equal(0, exit);
        foreach (ReproScenario s in ReproScenario.All)
        {
            Assert.Contains($"# scenario {s.Name}\n/machine/peripheral/ring0/virtio-backend:\n", text, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void One_scenario_prints_the_walk_through_and_the_hmp_status()
    {
        (int exit, string text, _) = Invoke("dropped-kick", "--seed", "2", "--ring-size", "8");
        Assert.Equal(0, exit);
        Assert.Contains("expected device-missed-kick, found device-missed-kick: ok", text, StringComparison.Ordinal);
        Assert.Contains("/machine/peripheral/blk0/virtio-backend:\n  device_name:          virtio-blk\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Without_event_idx_the_table_runs_the_scenarios_that_apply()
    {
        (int exit, string text, _) = Invoke("--event-idx", "false", "--device", "ring");
        Assert.Equal(0, exit);
        int n = ReproScenario.All.Count(s => s.ExpectedWithoutEventIdx is not null);
        Assert.Contains($"{n}/{n} verdicts as expected", text, StringComparison.Ordinal);
        Assert.DoesNotContain("stale-avail-event", text, StringComparison.Ordinal);
        Assert.Matches(@"dropped-call +healthy +\d.* ok\n", text);
    }

    [Fact]
    public void A_scenario_that_needs_event_idx_is_refused_without_it()
    {
        (int exit, _, string err) = Invoke("device-missing-barrier", "--event-idx", "false");
        Assert.Equal(1, exit);
        Assert.Contains("needs VIRTIO_RING_F_EVENT_IDX", err, StringComparison.Ordinal);
    }

    [Fact]
    public void Net_runs_on_its_transmit_queue()
    {
        (int exit, string text, _) = Invoke("stalled-backend", "--device", "net");
        Assert.Equal(0, exit);
        Assert.Contains("expected device-stuck, found device-stuck: ok", text, StringComparison.Ordinal);
        Assert.Contains("/machine/peripheral/net0/virtio-backend:\n  device_name:          virtio-net\n  queue_index:          1\n", text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("dropped-kick", "blk")]
    [InlineData("dropped-call", "ring")]
    [InlineData("stalled-backend", "blk")]
    [InlineData("device-missing-barrier", "blk")]
    [InlineData("hostile-descriptor-loop", "ring")]
    [InlineData("healthy", "blk")]
    [InlineData("stalled-backend", "net")]
    [InlineData("dropped-kick", "net")]
    [InlineData("healthy", "net")]
    public void Dump_then_offline_analysis_gives_the_live_verdict(string name, string device)
    {
        ReproResult live = ReproRunner.Run(ReproScenario.Find(name)!, new ReproOptions { Device = device, DumpDirectory = _dir });
        HangReport offline = DumpAnalysis.AnalyzeFiles(
            Path.Combine(_dir, "ram.bin"), 0, Path.Combine(_dir, "queue-status.json"), Path.Combine(_dir, "virtio-status.json"));
        Assert.Equal(live.Verdict, offline.Verdict);
        Assert.Equal(live.Report.Guest, offline.Guest);
    }

    [Fact]
    public void Virtio_status_reads_back_event_idx_and_broken()
    {
        ReproRunner.Run(ReproScenario.Find("hostile-descriptor-loop")!, new ReproOptions { Device = "blk", DumpDirectory = _dir });
        string json = File.ReadAllText(Path.Combine(_dir, "virtio-status.json"));
        Assert.Equal((true, true), DumpAnalysis.ParseVirtioStatus(json));
        Assert.Contains("\"VIRTIO_RING_F_EVENT_IDX: Used & avail. event fields enabled\"", json, StringComparison.Ordinal);
        Assert.Contains("\"VIRTIO_CONFIG_S_NEEDS_RESET: Irrecoverable error, device needs reset\"", json, StringComparison.Ordinal);
    }
}
