using System.CommandLine;
using System.Numerics;
using Virtio.VhostUser;
using System.Text.Json;

namespace Virtio.Cli.Bench;

/// <summary><c>virtio bench blk</c>: the command-line face of <see cref="BlkBench"/>.</summary>
public static class BlkBenchCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Build()
    {
        var rw = new Option<string>("--rw") { Description = "read | write | randread | randwrite", DefaultValueFactory = _ => "randread" };
        rw.AcceptOnlyFromAmong("read", "write", "randread", "randwrite");
        var blockSize = new Option<int>("--block-size") { Description = "bytes per request (multiple of 512)", DefaultValueFactory = _ => 4096 };
        var depth = new Option<int>("--queue-depth") { Description = "requests in flight per kick", DefaultValueFactory = _ => 32 };
        var requests = new Option<long>("--requests") { Description = "requests in the measured run", DefaultValueFactory = _ => 5_000_000 };
        var json = new Option<bool>("--json") { Description = "print one JSON object" };
        var vhostUser = new Option<string?>("--vhost-user") { Description = "random reads through a vhost-user front-end against the back-end on this socket (serve blk, qemu-storage-daemon)" };
        var command = new Command("blk", "virtio-blk requests against the memory backend through virtio-mmio, one thread")
        {
            rw, blockSize, depth, requests, json, vhostUser,
        };
        command.SetAction(parse =>
        {
            int bs = parse.GetValue(blockSize), qd = parse.GetValue(depth);
            long n = parse.GetValue(requests);
            if (bs < 512 || bs % 512 != 0 || bs > 1 << 20 || qd < 1 || qd > 32768 || n < 1)
            {
                Console.Error.WriteLine("virtio bench blk: --block-size must be a multiple of 512 up to 1 MiB, --queue-depth 1..32768, --requests positive");
                return 1;
            }

            if (parse.GetValue(vhostUser) is { } socket)
            {
                return RunVhostUser(socket, bs, qd, n, parse.GetValue(json));
            }

            using var bench = new BlkBench(parse.GetValue(rw)!, bs, qd);
            var (elapsed, done, allocated, failed) = bench.Run(n, Math.Min(n, 500_000));
            double ns = elapsed.TotalNanoseconds / done;
            double iops = done / elapsed.TotalSeconds;
            if (parse.GetValue(json))
            {
                BenchRun.PrintJson(w =>
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
                Console.WriteLine($"virtio-blk {parse.GetValue(rw)} bs={bs} qd={qd}: {done} requests in {elapsed.TotalMilliseconds:F0} ms");
                Console.WriteLine($"  {iops / 1e6:F2} M IOPS, {ns:F1} ns/request, {allocated} bytes allocated, {failed} failed");
            }

            return failed == 0 ? 0 : 1;
        });
        return command;
    }

    private static int RunVhostUser(string socket, int blockSize, int depth, long requests, bool json)
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
            });
        }
        catch (IOException e)
        {
            Console.Error.WriteLine($"virtio bench blk --vhost-user: {e.Message}");
            return 1;
        }

        if (json)
        {
            BenchRun.PrintJson(w =>
            {
                w.WriteString("vhostUser", socket);
                w.WriteNumber("blockSize", blockSize);
                w.WriteNumber("queueDepth", depth);
                w.WriteNumber("requests", r.Requests);
                w.WriteNumber("iops", Math.Round(r.Iops));
                w.WriteNumber("kicksPerRequest", Math.Round(r.KicksPerRequest, 4));
                w.WriteNumber("driverSleeps", r.Sleeps);
                w.WriteNumber("failed", r.Errors);
            });
        }
        else
        {
            Console.WriteLine($"vhost-user-blk randread bs={blockSize} qd={depth} via {socket}: {r.Requests} requests in {r.Elapsed.TotalMilliseconds:F0} ms");
            Console.WriteLine($"  {r.Iops / 1e3:F1} k IOPS; {r.KicksPerRequest:F3} kicks/request (the device's wake-ups); " +
                $"the driver slept on its call {r.Sleeps} times; {r.Errors} failed");
        }

        return r.Errors == 0 ? 0 : 1;
    }
}
