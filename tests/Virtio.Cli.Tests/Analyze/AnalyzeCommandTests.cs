using System.CommandLine;
using System.Text.Json;
using Virtio.Cli.Analyze;
using Virtio.Diagnostics;
using Virtio.Diagnostics.Tests.Support;
using Virtio.Rings;
using Virtio.Testing;

namespace Virtio.Cli.Tests.Analyze;

/// <summary><c>virtio analyze</c> on saved dumps (the analysis itself is tested in Virtio.Diagnostics.Tests' DumpAnalysisTests).</summary>
public sealed class AnalyzeCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("virtio-analyze-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Cli_finds_a_dropped_kick_in_a_dump_and_exits_2()
    {
        using var ring = new RingHarness(size: 8, placement: RingPlacement.Small, name: "virtio-blk");
        ring.RoundTrip(1);
        ring.AddRequest(2);
        (string ram, string status) = Save(ring);

        (int code, string stdout, string stderr) = Run("--ram", ram, "--queue-status", status, "--event-idx", "true");
        Assert.True(code == AnalyzeCommand.ExitHang, stderr);
        Assert.StartsWith("virtio-blk queue 0: device-missed-kick\n", stdout, StringComparison.Ordinal);
        Assert.Empty(stderr);
    }

    [Fact]
    public void Cli_json_output_reads_event_idx_from_the_device_status_file()
    {
        using var ring = new RingHarness(size: 8, placement: RingPlacement.Small, name: "virtio-blk");
        ring.RoundTrip(1);
        ring.RoundTrip(2);
        ring.AddRequest(3);
        ring.Driver.Kick();
        Assert.Equal(PopResult.Chain, ring.Device.Pop(out DescriptorChain chain));
        ring.Device.Push(chain, 1);
        (string ram, string status) = Save(ring);
        string virtioStatus = Write("virtio-status.json", Reference.VirtioStatusJson);

        (int code, string stdout, _) = Run("--ram", ram, "--queue-status", status, "--virtio-status", virtioStatus, "--format", "json");
        Assert.Equal(AnalyzeCommand.ExitHang, code);
        using JsonDocument json = JsonDocument.Parse(stdout);
        Assert.Equal("driver-missed-notification", json.RootElement.GetProperty("verdict").GetString());
        Assert.True(json.RootElement.GetProperty("eventIdx").GetBoolean());
    }

    [Fact]
    public void Cli_exits_0_on_a_healthy_queue_with_a_bare_status_object_and_a_hex_base()
    {
        using var ring = new RingHarness(size: 8, placement: RingPlacement.Small, name: "virtio-blk");
        ring.RoundTrip(1);
        string ram = Path.Combine(_dir, "ram.bin");
        using (FileStream f = File.Create(ram))
        {
            ring.Memory.Dump(f, 0x1000, RingPlacement.Small.MemorySize - 0x1000);
        }

        string status = Write("status.json", QueueStatus.Capture(ring.Device, "virtio-blk").ToJson());
        (int code, string stdout, string stderr) = Run("--ram", ram, "--ram-base", "0x1000", "--queue-status", status, "--event-idx", "false");
        Assert.True(code == AnalyzeCommand.ExitHealthy, stdout + stderr);
        Assert.Contains("Cannot tell", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void Cli_reports_a_guest_that_broke_the_ring()
    {
        using var ring = new RingHarness(size: 8, placement: RingPlacement.Small, name: "virtio-blk");
        ring.PublishAvail(0, 0, 9); // nine buffers in a queue of eight
        (string ram, string status) = Save(ring);
        (int code, string stdout, _) = Run("--ram", ram, "--queue-status", status, "--event-idx", "true");
        Assert.Equal(AnalyzeCommand.ExitHang, code);
        Assert.Contains("queue-broken", stdout, StringComparison.Ordinal);
        Assert.Contains("Guest moved used index from 0 to 9", stdout, StringComparison.Ordinal);
    }

    public static TheoryData<string, string> BadInputs => new()
    {
        { "truncated dump", "ends inside the" },
        { "ring outside the dump", "lies outside the RAM dump" },
        { "empty dump", "empty" },
        { "malformed json", "not JSON" },
        { "qmp error reply", "QEMU replied with an error" },
        { "size not a power of two", "vring-num 100 is not a valid queue size" },
        { "missing field", "used-idx" },
        { "missing ram file", "ram" },
        { "missing status file", "--queue-status" },
        { "bad ram base", "--ram-base" },
        { "both feature sources", "not both" },
        { "malformed device status", "guest-features" },
        { "missing required option", "--queue-status" },
    };

    [Theory]
    [MemberData(nameof(BadInputs))]
    public void Cli_refuses_bad_input_with_exit_code_1_and_a_message(string input, string expected)
    {
        using var ring = new RingHarness(size: 8, placement: RingPlacement.Small, name: "virtio-blk");
        ring.AddRequest(1);
        (string ram, string status) = Save(ring);
        string statusJson = File.ReadAllText(status);
        string[] args = input switch
        {
            "truncated dump" => ["--ram", Truncate(ram, (long)ring.Layout.UsedRing + 8), "--queue-status", status],
            "ring outside the dump" => ["--ram", ram, "--ram-base", "0x100000000", "--queue-status", status],
            "empty dump" => ["--ram", Write("empty.bin", string.Empty), "--queue-status", status],
            "malformed json" => ["--ram", ram, "--queue-status", Write("bad.json", "{\"return\": {\"name\": ")],
            "qmp error reply" => ["--ram", ram, "--queue-status", Write("err.json", "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Path is not a VirtIODevice\"}}")],
            "size not a power of two" => ["--ram", ram, "--queue-status", Write("n.json", statusJson.Replace("\"vring-num\":8", "\"vring-num\":100", StringComparison.Ordinal))],
            "missing field" => ["--ram", ram, "--queue-status", Write("m.json", statusJson.Replace("\"used-idx\":0,", string.Empty, StringComparison.Ordinal))],
            "missing ram file" => ["--ram", Path.Combine(_dir, "nope.bin"), "--queue-status", status],
            "missing status file" => ["--ram", ram, "--queue-status", Path.Combine(_dir, "nope.json")],
            "bad ram base" => ["--ram", ram, "--ram-base", "12k", "--queue-status", status],
            "both feature sources" => ["--ram", ram, "--queue-status", status, "--event-idx", "true", "--virtio-status", Write("vs.json", Reference.VirtioStatusJson)],
            "malformed device status" => ["--ram", ram, "--queue-status", status, "--virtio-status", Write("vs.json", "{\"return\": {}}")],
            "missing required option" => ["--ram", ram],
            _ => throw new ArgumentOutOfRangeException(nameof(input)),
        };

        (int code, string stdout, string stderr) = Run(args);
        Assert.True(code == AnalyzeCommand.ExitBadInput, $"{input}: exit {code}\n{stdout}{stderr}");
        Assert.Contains(expected, stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", stderr, StringComparison.Ordinal); // a message, not a stack trace
    }

    [Fact]
    public void The_command_is_registered_in_the_virtio_program() =>
        Assert.Equal(AnalyzeCommand.ExitBadInput, Virtio.Cli.Program.Main(["analyze", "--ram", Path.Combine(_dir, "none.bin"), "--queue-status", Path.Combine(_dir, "none.json")]));

    private (string Ram, string Status) Save(RingHarness ring)
    {
        string ram = Path.Combine(_dir, "ram.bin");
        using (FileStream f = File.Create(ram))
        {
            ring.Memory.Dump(f);
        }

        return (ram, Write("queue-status.json", QueueStatus.Capture(ring.Device, ring.Device.Name).ToQmpReplyJson()));
    }

    private string Write(string name, string text)
    {
        string path = Path.Combine(_dir, name);
        File.WriteAllText(path, text);
        return path;
    }

    private string Truncate(string ram, long length)
    {
        string path = Path.Combine(_dir, "truncated.bin");
        using FileStream source = File.OpenRead(ram);
        using FileStream target = File.Create(path);
        var buffer = new byte[length];
        source.ReadExactly(buffer);
        target.Write(buffer);
        return path;
    }

    private static (int Code, string Stdout, string Stderr) Run(params string[] args)
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var root = new RootCommand { AnalyzeCommand.Build(stdout, stderr) };
        int code = root.Parse(["analyze", .. args]).Invoke(new InvocationConfiguration { Output = stderr, Error = stderr });
        return (code, stdout.ToString(), stderr.ToString());
    }
}
