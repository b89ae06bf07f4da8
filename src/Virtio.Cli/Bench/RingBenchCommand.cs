using System.CommandLine;
using Microsoft.Extensions.Logging;
using Virtio.Cli.CommandLine;
using Virtio.Workloads.Bench;

namespace Virtio.Cli.Bench;

/// <summary><c>virtio bench ring</c>: the command-line face of <see cref="RingBench"/>.</summary>
internal static class RingBenchCommand
{
    public static Command Build()
    {
        Option<int> threads = CliOption.WholeNumber("--threads", "1: driver and device on one thread; 2: one thread each", 1, 1, 2);
        Option<string> mode = CliOption.Choice("--mode", "poll: spin; notify: sleep on the kick/call channels", "poll", "poll", "notify");
        Option<int> ringSize = CliOption.RingSize($"queue size (a power of two from {CliOption.MinRingSize} to {CliOption.MaxRingSize})", 256);
        Option<long> buffers = CliOption.WholeNumber("--buffers", "buffers in the measured run", 20_000_000, 1, long.MaxValue);
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
        CliRun.SetAction(command, "bench ring", format, null, null, run =>
        {
            using ILoggerFactory logging = run.Logging();
            var options = new RingBenchOptions
            {
                Threads = run.Get(threads),
                Mode = run.Get(mode) == "notify" ? RingBenchMode.Notify : RingBenchMode.Poll,
                RingSize = run.Get(ringSize),
                Buffers = run.Get(buffers),
                Batch = run.Get(batch),
                Burst = run.Parse.GetBoolean(burst) ?? false,
                EventIdx = run.Parse.GetBoolean(eventIdx) ?? true,
                Indirect = run.Get(indirect),
                Segments = run.Get(segments),
                LoggerFactory = logging,
            };
            if (options.Validate() is { } error)
            {
                return run.Fail(error);
            }

            using var bench = new RingBench(options);
            RingBenchResult result = bench.Run(warmup: Math.Min(options.Buffers, 2_000_000));
            run.Out.Flush();
            if (run.Json)
            {
                result.WriteJson(Console.OpenStandardOutput(), options);
            }
            else
            {
                result.WriteText(run.Out, options);
            }

            return ExitCodes.Success;
        });
        return command;
    }
}
