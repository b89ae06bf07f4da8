using System.CommandLine;
using System.Text.Json;
using Virtio.Cli.CommandLine;

namespace Virtio.Cli.Bench;

/// <summary><c>virtio bench blk</c>: the command-line face of <see cref="BlkBench"/>.</summary>
public static class BlkBenchCommand
{
    /// <summary>The largest <c>--block-size</c>: 1 MiB.</summary>
    public const int MaxBlockSize = 1 << 20;

    /// <summary>Guest RAM the request buffers may take (block size times queue depth): 1 GiB.</summary>
    public const long MaxBufferBytes = 1L << 30;

    /// <summary>Builds the command.</summary>
    public static Command Build()
    {
        Option<string> rw = CliOption.Choice("--rw", "access pattern", "randread", "read", "write", "randread", "randwrite");
        Option<int> blockSize = CliOption.WholeNumber("--block-size", "bytes per request: a multiple of 512 up to 1 MiB", 4096, 512, MaxBlockSize);
        Option<int> depth = CliOption.WholeNumber("--queue-depth", "requests in flight per kick", 32, 1, CliOption.MaxRingSize);
        Option<long> requests = CliOption.LargeWholeNumber("--requests", "requests in the measured run", 5_000_000, 1, long.MaxValue);
        var json = new Option<bool>("--json") { Description = "print one JSON object" };
        var command = new Command("blk", "virtio-blk requests against the memory backend through virtio-mmio, one thread")
        {
            rw, blockSize, depth, requests, json,
        };
        command.SetAction(parse =>
        {
            int bs = parse.GetValue(blockSize), qd = parse.GetValue(depth);
            long n = parse.GetValue(requests);
            TextWriter stdout = parse.InvocationConfiguration.Output;
            string? error = bs % 512 != 0 ? $"--block-size {bs}: must be a multiple of 512 (a sector)"
                : (long)bs * qd > MaxBufferBytes ? $"--block-size {bs} with --queue-depth {qd}: {(long)bs * qd >> 20} MiB of request buffers; keep their product within {MaxBufferBytes >> 20} MiB"
                : null;
            if (error is not null)
            {
                parse.InvocationConfiguration.Error.WriteLine($"virtio bench blk: {error}");
                return ExitCodes.Error;
            }

            using var bench = new BlkBench(parse.GetValue(rw)!, bs, qd);
            var (elapsed, done, allocated, failed) = bench.Run(n, Math.Min(n, 500_000));
            double ns = elapsed.TotalNanoseconds / done;
            double iops = done / elapsed.TotalSeconds;
            if (parse.GetValue(json))
            {
                BenchRun.PrintJson(stdout, w =>
                {
                    w.WriteString("rw", parse.GetValue(rw));
                    w.WriteNumber("blockSize", bs);
                    w.WriteNumber("queueDepth", qd);
                    w.WriteNumber("requests", done);
                    w.WriteNumber("iops", Math.Round(iops));
                    w.WriteNumber("nsPerRequest", Math.Round(ns, 2));
                    w.WriteNumber("allocatedBytes", allocated);
                    w.WriteNumber("failed", failed);
                });
            }
            else
            {
                stdout.WriteLine($"virtio-blk {parse.GetValue(rw)} bs={bs} qd={qd}: {done} requests in {elapsed.TotalMilliseconds:F0} ms");
                stdout.WriteLine($"  {iops / 1e6:F2} M IOPS, {ns:F1} ns/request, {allocated} bytes allocated, {failed} failed");
            }

            stdout.Flush();
            return failed == 0 ? ExitCodes.Success : ExitCodes.Found;
        });
        return command;
    }
}
