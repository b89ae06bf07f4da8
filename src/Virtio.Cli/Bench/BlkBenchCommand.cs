using System.CommandLine;
using System.Numerics;
using Microsoft.Extensions.Logging;
using Virtio.Cli.CommandLine;
using Virtio.VhostUser;
using Virtio.Workloads.Bench;

namespace Virtio.Cli.Bench;

/// <summary><c>virtio bench blk</c>: the command-line face of <see cref="BlkBench"/> and <see cref="VhostUserBlkBench"/>.</summary>
internal static class BlkBenchCommand
{
    public static Command Build()
    {
        Option<string> rw = CliOption.Choice("--rw", "access pattern", "randread", "read", "write", "randread", "randwrite");
        Option<int> blockSize = CliOption.WholeNumber("--block-size", "bytes per request: a multiple of 512 up to 1 MiB", 4096, 512, BlkBench.MaxBlockSize);
        Option<int> depth = CliOption.WholeNumber("--queue-depth", "requests in flight per kick", 32, 1, CliOption.MaxRingSize);
        Option<long> requests = CliOption.WholeNumber("--requests", "requests in the measured run", 5_000_000, 1, long.MaxValue);
        var format = OutputFormat.Create("output format: json prints one object");
        var vhostUser = new Option<string?>("--vhost-user") { Description = "random reads through a vhost-user front-end against the back-end on this socket (serve blk, qemu-storage-daemon)" };
        var inflight = new Option<bool>("--inflight") { Description = "with --vhost-user: share an inflight region (INFLIGHT_SHMFD), as QEMU does, so the back-end records every request" };
        var command = new Command("blk", "virtio-blk requests against the memory backend through virtio-mmio, one thread")
        {
            rw, blockSize, depth, requests, format.Format, format.Json, vhostUser, inflight,
        };
        CliRun.SetAction(command, "bench blk", format, null, null, run =>
        {
            int bs = run.Get(blockSize), qd = run.Get(depth);
            long n = run.Get(requests);
            if (BlkBench.Validate(bs, qd) is { } error)
            {
                return run.Fail(error);
            }

            long failed;
            string text;
            if (run.Get(vhostUser) is { } socket)
            {
                var options = new VhostUserBlkBenchOptions
                {
                    Requests = n, QueueDepth = qd, BlockSize = bs, Inflight = run.Get(inflight),
                    RingSize = Math.Max(128, (int)BitOperations.RoundUpToPowerOf2((uint)qd * 3)),
                };
                VhostUserBlkBenchReport report;
                try
                {
                    report = new VhostUserBlkBenchReport(socket, options, VhostUserBlkBench.Run(socket, options));
                }
                catch (IOException e)
                {
                    return run.Fail($"--vhost-user {socket}: {e.Message}");
                }

                (text, failed) = (run.Json ? report.ToJson() + Environment.NewLine : report.ToText(), report.Result.Errors);
            }
            else
            {
                using ILoggerFactory logging = run.Logging();
                using var bench = new BlkBench(run.Get(rw)!, bs, qd, loggerFactory: logging);
                BlkBenchReport report = bench.Measure(n, Math.Min(n, 500_000));
                (text, failed) = (run.Json ? report.ToJson() + Environment.NewLine : report.ToText(), report.Failed);
            }

            return run.Print(text, failed == 0 ? ExitCodes.Success : ExitCodes.Found);
        });
        return command;
    }
}
