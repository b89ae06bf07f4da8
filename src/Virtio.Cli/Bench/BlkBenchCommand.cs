using System.CommandLine;
using System.Numerics;
using Virtio.VhostUser;
using System.Text.Json;
using Virtio.Cli.CommandLine;
using Virtio.Workloads.Bench;

namespace Virtio.Cli.Bench;

/// <summary><c>virtio bench blk</c>: the command-line face of <see cref="BlkBench"/>.</summary>
internal static class BlkBenchCommand
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
        var format = OutputFormat.Create("output format: json prints one object");
        var vhostUser = new Option<string?>("--vhost-user") { Description = "random reads through a vhost-user front-end against the back-end on this socket (serve blk, qemu-storage-daemon)" };
        var inflight = new Option<bool>("--inflight") { Description = "with --vhost-user: share an inflight region (INFLIGHT_SHMFD), as QEMU does, so the back-end records every request" };
        var command = new Command("blk", "virtio-blk requests against the memory backend through virtio-mmio, one thread")
        {
            rw, blockSize, depth, requests, format.Format, format.Json, vhostUser, inflight,
        };
        command.SetAction(parse =>
        {
            if (format.Resolve(parse, parse.InvocationConfiguration.Error, "bench blk") is not { } fmt)
            {
                return ExitCodes.Error;
            }

            bool json = fmt == "json";
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

            if (parse.GetValue(vhostUser) is { } socket)
            {
                return RunVhostUser(socket, bs, qd, n, parse.GetValue(inflight), json, stdout, parse.InvocationConfiguration.Error);
            }

            using var bench = new BlkBench(parse.GetValue(rw)!, bs, qd);
            var (elapsed, done, allocated, failed) = bench.Run(n, Math.Min(n, 500_000));
            double ns = elapsed.TotalNanoseconds / done;
            double iops = done / elapsed.TotalSeconds;
            if (json)
            {
                stdout.WriteLine(JsonSerializer.Serialize(new BlkBenchJson(parse.GetValue(rw)!, bs, qd, done, Math.Round(iops), Math.Round(ns, 2), allocated, failed), BenchJsonContext.Default.BlkBenchJson));
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

    private static int RunVhostUser(string socket, int blockSize, int depth, long requests, bool inflight, bool json, TextWriter stdout, TextWriter stderr)
    {
        VhostUserBlkBenchResult r;
        try
        {
            r = VhostUserBlkBench.Run(socket, new VhostUserBlkBenchOptions
            {
                Requests = requests,
                QueueDepth = depth,
                BlockSize = blockSize,
                RingSize = Math.Max(128, (int)BitOperations.RoundUpToPowerOf2((uint)depth * 3)),
                Inflight = inflight,
            });
        }
        catch (IOException e)
        {
            stderr.WriteLine($"virtio bench blk: --vhost-user {socket}: {e.Message}");
            return ExitCodes.Error;
        }

        if (json)
        {
            stdout.WriteLine(JsonSerializer.Serialize(
                new VhostUserBlkBenchJson(socket, blockSize, depth, r.Requests, Math.Round(r.Iops), Math.Round(r.KicksPerRequest, 4), r.Sleeps, r.Errors, r.Inflight),
                BenchJsonContext.Default.VhostUserBlkBenchJson));
        }
        else
        {
            stdout.WriteLine($"vhost-user-blk randread bs={blockSize} qd={depth} via {socket}{(r.Inflight ? " (inflight region shared)" : "")}: {r.Requests} requests in {r.Elapsed.TotalMilliseconds:F0} ms");
            stdout.WriteLine($"  {r.Iops / 1e3:F1} k IOPS; {r.KicksPerRequest:F3} kicks/request (the device's wake-ups); " +
                $"the driver slept on its call {r.Sleeps} times; {r.Errors} failed");
        }

        stdout.Flush();
        return r.Errors == 0 ? ExitCodes.Success : ExitCodes.Found;
    }
}
