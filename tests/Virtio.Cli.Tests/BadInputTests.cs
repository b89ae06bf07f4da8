using System.Text.RegularExpressions;

namespace Virtio.Cli.Tests;

/// <summary>
/// Every subcommand, given a wrong value as a new user would: exit code 1, exactly one line on stderr that names the
/// option and the value, nothing on stdout, no stack frame and no .NET type name.
/// </summary>
public sealed partial class BadInputTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    // {dir} is a directory, {file} an existing regular file (with content), {long} a path longer than sun_path.
    public static TheoryData<string, string> Inputs => new()
    {
        { "", "Required command was not provided" },
        { "nosuch", "'nosuch'" },
        { "bench", "Required command was not provided" },

        { "repro nosuch", "scenario nosuch: must be one of healthy" },
        { "repro --device foo", "--device foo: must be one of ring, blk, net" },
        { "repro --event-idx maybe", "--event-idx maybe: must be true or false" },
        { "repro --event-idx", "--event-idx" },
        { "repro --ring-size 1", "--ring-size 1: must be from 2 to 32768" },
        { "repro --ring-size 100", "--ring-size 100: must be a power of two from 2 to 32768" },
        { "repro --ring-size 65536", "--ring-size 65536: must be from 2 to 32768" },
        { "repro --ring-size abc", "--ring-size abc: not a whole number" },
        { "repro --ring-size 99999999999", "--ring-size 99999999999: must be from 2 to 32768" },
        { "repro --seed x", "--seed x: not a whole number" },
        { "repro --seed 1.5", "--seed 1.5: not a whole number" },
        { "repro --start-index -1", "--start-index -1: must be from 0 to 65535" },
        { "repro --start-index 65536", "--start-index 65536: must be from 0 to 65535" },
        { "repro --format xml", "--format xml: must be one of text, json, hmp" },
        { "repro --format hmp --json", "--json and --format hmp ask for two formats" },
        { "repro --format text --json", "--json and --format text ask for two formats" },
        { "repro --dump {dir}", "--dump needs a scenario name" },
        { "repro healthy --dump {file}", "--dump {file}: is a file; give a directory" },
        { "repro device-missing-barrier --event-idx false", "needs VIRTIO_RING_F_EVENT_IDX" },
        { "repro healthy extra", "'extra'" },
        { "repro --log-level loud", "--log-level loud: must be one of trace, debug, information, warning, error, critical, none" },
        { "--log-level Debug repro", "--log-level Debug: must be one of trace" },

        { "analyze", "'--ram' is required" },
        { "analyze --ram {file}", "'--queue-status' is required" },
        { "analyze --ram {dir} --queue-status {file}", "--ram {dir}: is a directory; give the file" },
        { "analyze --ram {file} --queue-status {dir}", "--queue-status {dir}: is a directory; give the file" },
        { "analyze --ram {dir}/none.bin --queue-status {file}", "--ram {dir}/none.bin: no such file" },
        { "analyze --ram {file} --queue-status {file} --virtio-status {dir}", "--virtio-status {dir}: is a directory" },
        { "analyze --ram {file} --queue-status {file} --event-idx maybe", "--event-idx maybe: must be true or false" },
        { "analyze --ram {file} --queue-status {file} --format xml", "--format xml: must be one of text, json" },
        { "analyze --ram {file} --queue-status {file} --format text --json", "--json and --format text ask for two formats" },
        { "analyze --ram {file} --queue-status {file} --ram-base 12k", "--ram-base 12k: not an address" },
        { "analyze --ram {file} --queue-status {file} --ram-base 0x10000000000000000", "--ram-base 0x10000000000000000: not an address" },
        { "analyze --ram {file} --queue-status {file}", "queue status: not JSON" },
        { "analyze --ram {file} --queue-status {json:{\"vring-num\":\"x\"}}", "field 'vring-num' holds a value of the wrong kind" },
        { "analyze --ram {file} --queue-status {json:{\"name\":\"x\"}}", "queue status: missing field(s) 'queue-index'" },
        { "analyze --ram {file} --queue-status /dev/zero", "--queue-status /dev/zero: more than 4 MiB" },

        { "bench ring --threads 3", "--threads 3: must be from 1 to 2" },
        { "bench ring --threads x", "--threads x: not a whole number" },
        { "bench ring --mode foo", "--mode foo: must be one of poll, notify" },
        { "bench ring --mode notify", "--mode notify needs --threads 2" },
        { "bench ring --format xml", "--format xml: must be one of text, json" },
        { "bench ring --format text --json", "--json and --format text ask for two formats" },
        { "bench blk --format text --json", "--json and --format text ask for two formats" },
        { "bench net --format csv", "--format csv: must be one of text, json" },
        { "bench ring --ring-size 1", "--ring-size 1: must be from 2 to 32768" },
        { "bench ring --ring-size 100", "--ring-size 100: must be a power of two" },
        { "bench ring --buffers 0", "--buffers 0: must be from 1" },
        { "bench ring --batch 0", "--batch 0: must be from 1" },
        { "bench ring --batch 512", "--batch 512: must be from 1 to the ring size (256)" },
        { "bench ring --segments 65", "--segments 65: must be from 1 to 64" },
        { "bench ring --segments 8 --ring-size 4", "--segments 8: more than the ring size (4) without --indirect" },
        { "bench ring --event-idx maybe", "--event-idx maybe: must be true or false" },
        { "bench ring --burst maybe", "--burst maybe: must be true or false" },
        { "bench blk --rw foo", "--rw foo: must be one of read, write, randread, randwrite" },
        { "bench blk --block-size 3", "--block-size 3: must be from 512 to 1048576" },
        { "bench blk --block-size 1000", "--block-size 1000: must be a multiple of 512" },
        { "bench blk --queue-depth 0", "--queue-depth 0: must be from 1 to 32768" },
        { "bench blk --requests -5", "--requests -5: must be from 1" },
        { "bench blk --block-size 1048576 --queue-depth 32768", "--block-size 1048576 with --queue-depth 32768" },
        { "bench net --frame-size 1", "--frame-size 1: must be from 14 to 65550" },
        { "bench net --batch 0", "--batch 0: must be from 1 to 4096" },
        { "bench net --frames 0", "--frames 0: must be from 1" },
        { "bench net --mrg-rxbuf maybe", "--mrg-rxbuf maybe: must be true or false" },
        { "bench net --callbacks yes", "--callbacks yes: must be true or false" },
        { "bench net --frame-size 65550 --batch 4096", "--batch 4096 with --frame-size 65550" },

        { "stress --buffers 0", "--buffers 0: must be from 1" },
        { "stress --buffers x", "--buffers x: not a whole number" },
        { "stress --buffers 1e6", "--buffers 1e6: not a whole number" },
        { "stress --seed -1", "--seed -1: must be from 0" },
        { "stress --seed 1.5", "--seed 1.5: not a whole number" },
        { "stress --format xml", "--format xml: must be one of text, json" },
        { "stress --format text --json", "--json and --format text ask for two formats" },
        { "stress extra", "'extra'" },

        { "ping", "give --listen PATH or --connect PATH" },
        { "ping --listen {dir}/a --connect {dir}/b", "give --listen or --connect, not both" },
        { "ping --listen {dir}", "--listen {dir}: is a directory" },
        { "ping --listen {file}", "--listen {file}: exists and is not a socket; it is left alone" },
        { "ping --listen {long}", "a Unix socket path holds at most 107" },
        { "ping --connect {long}", "a Unix socket path holds at most 107" },
        { "ping --connect {dir}/none.sock", "--connect {dir}/none.sock: no such socket" },
        { "ping --connect {file}", "--connect {file}: not a socket" },
        { "ping --listen {dir}/a.sock --source ::1", "--source ::1: an IPv6 address" },
        { "ping --listen {dir}/a.sock --target fe80::1", "--target fe80::1: an IPv6 address" },
        { "ping --listen {dir}/a.sock --target 10", "--target 10: not an IPv4 address" },
        { "ping --listen {dir}/a.sock --target 10.0.2.256", "--target 10.0.2.256: not an IPv4 address" },
        { "ping --listen {dir}/a.sock --count 0", "--count 0: must be from 1 to 65535" },
        { "ping --listen {dir}/a.sock --count 70000", "--count 70000: must be from 1 to 65535" },
        { "ping --listen {dir}/a.sock --timeout 0", "--timeout 0: must be from 1 to 86400" },
        { "ping --listen {dir}/a.sock --timeout 99999999999", "--timeout 99999999999: must be from 1 to 86400" },
        { "ping --listen {dir}/a.sock --pcap {dir}", "--pcap {dir}: is a directory" },
        { "ping --listen {dir}/a.sock --pcap {dir}/no/such/x.pcap", "--pcap {dir}/no/such/x.pcap: the directory {dir}/no/such does not exist" },

        { "diagnose", "Option '--qmp' is required" },
        { "diagnose --qmp {dir}/none.sock", "cannot connect to QMP at {dir}/none.sock: no such socket" },
        { "diagnose --qmp {dir}", "cannot connect to QMP at {dir}: it is a directory" },
        { "diagnose --qmp {file}", "cannot connect to QMP at {file}: nobody listens there" },
        { "diagnose --qmp localhost:99999", "the port is not a number from 1 to 65535" },
        { "diagnose --qmp {dir}/a.sock --interval -1", "--interval -1: not a number of seconds (from 0 to 3600)" },
        { "diagnose --qmp {dir}/a.sock --interval abc", "--interval abc: not a number of seconds" },
        { "diagnose --qmp {dir}/a.sock --interval 3601", "--interval 3601: must be from 0 to 3600 seconds" },
        { "diagnose --qmp {dir}/a.sock --timeout 0", "--timeout 0: must be above 0 up to 3600 seconds" },
        { "diagnose --qmp {dir}/a.sock --queue -3", "--queue -3: must be from 0 to 65535" },
        { "diagnose --qmp {dir}/a.sock --queue x", "--queue x: not a whole number" },
        { "diagnose --qmp {dir}/a.sock --format hmp", "--format hmp: must be one of text, json" },
        { "diagnose --qmp {dir}/a.sock --format text --json", "--json and --format text ask for two formats" },
        { "diagnose --qmp {dir}/a.sock --save {file}", "--save {file}: is a file" },

        { "serve blk --socket {dir}/a.sock", "give --image FILE or --memory SIZE" },
        { "serve blk --socket {dir}/a.sock --memory 1M --image {file}", "give --image or --memory, not both" },
        { "serve blk --socket {dir}/a.sock --memory 1000", "--memory 1000: not a size in whole 512-byte sectors" },
        { "serve blk --socket {dir}/a.sock --memory lots", "--memory lots: not a size" },
        { "serve blk --socket {dir}/a.sock --image {dir}", "--image {dir}: is a directory" },
        { "serve blk --socket {dir}/a.sock --image {dir}/none.img", "--image {dir}/none.img: no such file" },
        { "serve blk --socket {dir}/a.sock --memory 1M --queue-size 100", "--queue-size 100: must be a power of two" },
        { "serve blk --socket {dir}/a.sock --memory 1M --num-queues 0", "--num-queues 0: must be from 1 to 64" },
        { "serve blk --socket {dir}/a.sock --memory 1M --fault drop-kick", "--fault drop-kick: must be drop-kick:N" },
        { "serve blk --socket {dir}/a.sock --memory 1M --fault nosuch:3", "--fault nosuch:3: must be drop-kick:N" },
        { "serve blk --socket {dir}/a.sock --memory 1M --stall-timeout 0", "--stall-timeout 0: must be above 0" },
        { "serve blk --socket {dir}/a.sock --memory 1M --fault drop-kick:5:tx", "--fault drop-kick:5:tx: must be drop-kick:N[:RING]" },
        { "serve blk --socket {dir}/a.sock --memory 1M --fault drop-call:5:1", "--fault drop-call:5:1: ring 1 does not exist (the device has rings 0 to 0)" },
        { "serve net --socket {dir}/a.sock --fault drop-kick:5:up", "--fault drop-kick:5:up: must be drop-kick:N[:rx|:tx|:RING]" },
        { "serve net --socket {dir}/a.sock --fault drop-call:5:2", "--fault drop-call:5:2: ring 2 does not exist (the device has rings 0 to 1)" },
        { "serve net --socket {dir}/a.sock --fault drop-kick:5:tx --poll", "--fault drop-kick:5:tx with --poll: a polling device does not wait for kicks" },
        { "serve blk --socket {long} --memory 1M", "a Unix socket path holds at most 107" },
        { "serve blk --socket {file} --memory 1M", "{file}: exists and is not a socket; it is left alone" },
        { "serve blk --socket {dir} --memory 1M", "{dir}: is a directory" },
    };

    [Theory]
    [MemberData(nameof(Inputs))]
    public void Bad_input_exits_1_with_one_line_on_stderr_that_names_the_value(string commandLine, string expected)
    {
        string[] args = [.. commandLine.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(Expand)];
        (int exit, string stdout, string stderr) = VirtioCommand.Run(args);

        string[] lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(exit == 1, $"exit {exit}\nstdout: {stdout}\nstderr: {stderr}");
        Assert.True(lines.Length == 1, $"{lines.Length} lines on stderr:\n{stderr}");
        Assert.StartsWith("virtio", lines[0], StringComparison.Ordinal);
        Assert.Contains(Expand(expected), lines[0], StringComparison.Ordinal);
        Assert.Equal(string.Empty, stdout);
        Assert.DoesNotContain("   at ", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("internal error", stderr, StringComparison.Ordinal);
        Assert.DoesNotMatch(DotNetNames(), stderr);
    }

    /// <summary>What a user should never read: .NET namespaces, CLR type names, exception parameter suffixes.</summary>
    [GeneratedRegex(@"System\.|Virtio\.[A-Z]|Int32|Int64|Boolean|RingBenchMode|Exception|\(Parameter '")]
    private static partial Regex DotNetNames();

    private string Expand(string text)
    {
        if (text.StartsWith("{json:", StringComparison.Ordinal))
        {
            string path = _dir.File(Guid.NewGuid().ToString("N")[..8] + ".json");
            File.WriteAllText(path, text["{json:".Length..^1]);
            return path;
        }

        string file = _dir.File("file");
        if (!File.Exists(file))
        {
            File.WriteAllText(file, "content");
        }

        return text
            .Replace("{dir}", _dir.Path, StringComparison.Ordinal)
            .Replace("{file}", file, StringComparison.Ordinal)
            .Replace("{long}", _dir.File(new string('s', 110)), StringComparison.Ordinal);
    }
}
