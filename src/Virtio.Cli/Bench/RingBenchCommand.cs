using System.CommandLine;
using System.Globalization;
using System.Text.Json;

namespace Virtio.Cli.Bench;

/// <summary><c>virtio bench ring</c>: the command-line face of <see cref="RingBench"/>.</summary>
public static class RingBenchCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Build()
    {
        var threads = new Option<int>("--threads") { Description = "1: driver and device on one thread; 2: one thread each", DefaultValueFactory = _ => 1 };
        var mode = new Option<RingBenchMode>("--mode") { Description = "poll: spin; notify: sleep on the kick/call channels", DefaultValueFactory = _ => RingBenchMode.Poll };
        var ringSize = new Option<int>("--ring-size") { Description = "queue size (power of two)", DefaultValueFactory = _ => 256 };
        var buffers = new Option<long>("--buffers") { Description = "buffers in the measured run", DefaultValueFactory = _ => 20_000_000 };
        var batch = new Option<int>("--batch") { Description = "buffers added per kick decision and completed per flush", DefaultValueFactory = _ => 1 };
        var eventIdx = new Option<bool>("--event-idx") { Description = "negotiate VIRTIO_RING_F_EVENT_IDX (true|false)", DefaultValueFactory = _ => true };
        var indirect = new Option<bool>("--indirect") { Description = "negotiate VIRTIO_RING_F_INDIRECT_DESC" };
        var segments = new Option<int>("--segments") { Description = "segments per buffer (indirect is used above 1)", DefaultValueFactory = _ => 1 };
        var json = new Option<bool>("--json") { Description = "print one JSON object" };

        var command = new Command("ring", "Driver and device on one split ring, like Linux tools/virtio/ringtest")
        {
            threads, mode, ringSize, buffers, batch, eventIdx, indirect, segments, json,
        };
        command.SetAction(parse =>
        {
            var options = new RingBenchOptions
            {
                Threads = parse.GetValue(threads),
                Mode = parse.GetValue(mode),
                RingSize = parse.GetValue(ringSize),
                Buffers = parse.GetValue(buffers),
                Batch = parse.GetValue(batch),
                EventIdx = parse.GetValue(eventIdx),
                Indirect = parse.GetValue(indirect),
                Segments = parse.GetValue(segments),
            };
            if (options.Validate() is { } error)
            {
                Console.Error.WriteLine($"virtio bench ring: {error}");
                return 1;
            }

            using var bench = new RingBench(options);
            RingBenchResult result = bench.Run(warmup: Math.Min(options.Buffers, 2_000_000));
            if (parse.GetValue(json))
            {
                WriteJson(Console.OpenStandardOutput(), options, result);
            }
            else
            {
                WriteText(Console.Out, options, result);
            }

            return 0;
        });
        return command;
    }

    /// <summary>Writes the result as one JSON object and a newline.</summary>
    public static void WriteJson(Stream stream, RingBenchOptions options, RingBenchResult result)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(result);
        using (var w = new Utf8JsonWriter(stream))
        {
            w.WriteStartObject();
            w.WriteNumber("threads", options.Threads);
            w.WriteString("mode", options.Mode == RingBenchMode.Poll ? "poll" : "notify");
            w.WriteNumber("ringSize", options.RingSize);
            w.WriteNumber("batch", options.Batch);
            w.WriteBoolean("eventIdx", options.EventIdx);
            w.WriteBoolean("indirect", options.Indirect);
            w.WriteNumber("segments", options.Segments);
            w.WriteNumber("buffers", result.Buffers);
            w.WriteNumber("nsPerBuffer", Math.Round(result.NsPerBuffer, 2));
            w.WriteNumber("buffersPerSecond", Math.Round(result.BuffersPerSecond));
            w.WriteNumber("kicksPerBuffer", result.KicksPerBuffer);
            w.WriteNumber("callsPerBuffer", result.CallsPerBuffer);
            w.WriteNumber("allocatedBytes", result.AllocatedBytes);
            w.WriteEndObject();
        }

        stream.WriteByte((byte)'\n');
        stream.Flush();
    }

    /// <summary>Writes the result for a person.</summary>
    public static void WriteText(TextWriter output, RingBenchOptions options, RingBenchResult result)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(result);
        CultureInfo c = CultureInfo.InvariantCulture;
        output.WriteLine(string.Create(c,
            $"ring: threads={options.Threads} mode={(options.Mode == RingBenchMode.Poll ? "poll" : "notify")} ring-size={options.RingSize} batch={options.Batch} event-idx={(options.EventIdx ? "true" : "false")} indirect={(options.Indirect ? "true" : "false")} segments={options.Segments} buffers={result.Buffers}"));
        output.WriteLine(string.Create(c, $"  ns/buffer       {result.NsPerBuffer,12:F2}"));
        output.WriteLine(string.Create(c, $"  buffers/s       {result.BuffersPerSecond,12:N0}"));
        output.WriteLine(string.Create(c, $"  kicks/buffer    {result.KicksPerBuffer,12:F5}  ({result.Kicks} kicks)"));
        output.WriteLine(string.Create(c, $"  calls/buffer    {result.CallsPerBuffer,12:F5}  ({result.Calls} calls)"));
        output.WriteLine(string.Create(c, $"  allocated       {result.AllocatedBytes,12} bytes"));
    }
}
