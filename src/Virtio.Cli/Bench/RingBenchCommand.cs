using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Virtio.Cli.CommandLine;
using Virtio.Workloads.Bench;

namespace Virtio.Cli.Bench;

/// <summary><c>virtio bench ring</c>: the command-line face of <see cref="RingBench"/>.</summary>
internal static class RingBenchCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Build()
    {
        Option<int> threads = CliOption.WholeNumber("--threads", "1: driver and device on one thread; 2: one thread each", 1, 1, 2);
        Option<string> mode = CliOption.Choice("--mode", "poll: spin; notify: sleep on the kick/call channels", "poll", "poll", "notify");
        Option<int> ringSize = CliOption.RingSize($"queue size (a power of two from {CliOption.MinRingSize} to {CliOption.MaxRingSize})", 256);
        Option<long> buffers = CliOption.LargeWholeNumber("--buffers", "buffers in the measured run", 20_000_000, 1, long.MaxValue);
        Option<int> batch = CliOption.WholeNumber("--batch", "buffers added per kick decision and completed per flush (up to the ring size)", 1, 1, CliOption.MaxRingSize);
        Option<string?> burst = CliOption.Bool("--burst", "move each batch through the burst API: one AddBurst, PopBurst, PushBurst and GetBurst per --batch buffers (true|false)", false);
        Option<string?> eventIdx = CliOption.Bool("--event-idx", "negotiate VIRTIO_RING_F_EVENT_IDX (true|false)", true);
        var indirect = new Option<bool>("--indirect") { Description = "negotiate VIRTIO_RING_F_INDIRECT_DESC" };
        Option<int> segments = CliOption.WholeNumber("--segments", "segments per buffer, 1 to 64 (indirect is used above 1)", 1, 1, 64);
        var format = OutputFormat.Create("output format: json prints one object");

        var command = new Command("ring", "Driver and device on one split ring, like Linux tools/virtio/ringtest")
        {
            threads, mode, ringSize, buffers, batch, burst, eventIdx, indirect, segments, format.Format, format.Json,
        };
        command.SetAction(parse =>
        {
            if (format.Resolve(parse, parse.InvocationConfiguration.Error, "bench ring") is not { } fmt)
            {
                return ExitCodes.Error;
            }

            bool json = fmt == "json";
            var options = new RingBenchOptions
            {
                Threads = parse.GetValue(threads),
                Mode = parse.GetValue(mode) == "notify" ? RingBenchMode.Notify : RingBenchMode.Poll,
                RingSize = parse.GetValue(ringSize),
                Buffers = parse.GetValue(buffers),
                Batch = parse.GetValue(batch),
                Burst = parse.GetBoolean(burst) ?? false,
                EventIdx = parse.GetBoolean(eventIdx) ?? true,
                Indirect = parse.GetValue(indirect),
                Segments = parse.GetValue(segments),
            };
            if (options.Validate() is { } error)
            {
                parse.InvocationConfiguration.Error.WriteLine($"virtio bench ring: {error}");
                return ExitCodes.Error;
            }

            using var bench = new RingBench(options);
            RingBenchResult result = bench.Run(warmup: Math.Min(options.Buffers, 2_000_000));
            if (json)
            {
                parse.InvocationConfiguration.Output.Flush();
                WriteJson(Console.OpenStandardOutput(), options, result);
            }
            else
            {
                WriteText(parse.InvocationConfiguration.Output, options, result);
            }

            return ExitCodes.Success;
        });
        return command;
    }

    /// <summary>Writes the result as one JSON object and a newline.</summary>
    public static void WriteJson(Stream stream, RingBenchOptions options, RingBenchResult result)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(result);
        var json = new RingBenchJson(
            options.Threads, options.Mode == RingBenchMode.Poll ? "poll" : "notify", options.RingSize, options.Batch, options.Burst, options.EventIdx, options.Indirect,
            options.Segments, result.Buffers, Math.Round(result.NsPerBuffer, 2), Math.Round(result.BuffersPerSecond), result.KicksPerBuffer,
            result.CallsPerBuffer, result.AllocatedBytes);
        JsonSerializer.Serialize(stream, json, BenchJsonContext.Default.RingBenchJson);
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
            $"ring: threads={options.Threads} mode={(options.Mode == RingBenchMode.Poll ? "poll" : "notify")} ring-size={options.RingSize} batch={options.Batch} burst={(options.Burst ? "true" : "false")} event-idx={(options.EventIdx ? "true" : "false")} indirect={(options.Indirect ? "true" : "false")} segments={options.Segments} buffers={result.Buffers}"));
        output.WriteLine(string.Create(c, $"  ns/buffer       {result.NsPerBuffer,12:F2}"));
        output.WriteLine(string.Create(c, $"  buffers/s       {result.BuffersPerSecond,12:N0}"));
        output.WriteLine(string.Create(c, $"  kicks/buffer    {result.KicksPerBuffer,12:F5}  ({result.Kicks} kicks)"));
        output.WriteLine(string.Create(c, $"  calls/buffer    {result.CallsPerBuffer,12:F5}  ({result.Calls} calls)"));
        output.WriteLine(string.Create(c, $"  allocated       {result.AllocatedBytes,12} bytes"));
    }
}
