using System.CommandLine;
using System.Text.Json;

namespace Virtio.Cli.Bench;

/// <summary><c>virtio bench net</c>: the command-line face of <see cref="NetBench"/>.</summary>
public static class NetBenchCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Build()
    {
        var frameSize = new Option<int>("--frame-size") { Description = "Ethernet frame bytes without the virtio-net header (14..65550)", DefaultValueFactory = _ => 64 };
        var mergeable = new Option<bool>("--mrg-rxbuf") { Description = "negotiate MRG_RXBUF: 1536-byte rx buffers, frames span several (true|false)", DefaultValueFactory = _ => true };
        var batch = new Option<int>("--batch") { Description = "frames per tx kick", DefaultValueFactory = _ => 32 };
        var callbacks = new Option<bool>("--callbacks") { Description = "the guest driver keeps used-buffer callbacks on (used_event and a fence per buffer) instead of polling with them off (true|false)" };
        var frames = new Option<long>("--frames") { Description = "frames in the measured run", DefaultValueFactory = _ => 5_000_000 };
        var json = new Option<bool>("--json") { Description = "print one JSON object" };
        var command = new Command("net", "virtio-net frames through the loopback backend, tx to rx, through virtio-mmio, one thread")
        {
            frameSize, mergeable, batch, callbacks, frames, json,
        };
        command.SetAction(parse =>
        {
            int fs = parse.GetValue(frameSize), b = parse.GetValue(batch);
            long n = parse.GetValue(frames);
            bool mrg = parse.GetValue(mergeable), cb = parse.GetValue(callbacks);
            if (fs < 14 || fs > 65550 || b < 1 || b > 4096 || n < 1)
            {
                Console.Error.WriteLine("virtio bench net: --frame-size 14..65550, --batch 1..4096, --frames positive");
                return 1;
            }

            using var bench = new NetBench(fs, mrg, b, cb);
            var (elapsed, done, allocated, failed) = bench.Run(n, Math.Min(n, 500_000));
            double ns = elapsed.TotalNanoseconds / done;
            double pps = done / elapsed.TotalSeconds;
            double rxKicks = (double)bench.RxKicks / done, txKicks = (double)bench.TxKicks / done;
            if (parse.GetValue(json))
            {
                BenchRun.PrintJson(w =>
                {
                    w.WriteNumber("frameSize", fs);
                    w.WriteBoolean("mrgRxBuf", mrg);
                    w.WriteNumber("batch", b);
                    w.WriteBoolean("callbacks", cb);
                    w.WriteNumber("frames", done);
                    w.WriteNumber("pps", Math.Round(pps));
                    w.WriteNumber("nsPerFrame", Math.Round(ns, 2));
                    w.WriteNumber("gbitPerSecond", Math.Round(pps * fs * 8 / 1e9, 3));
                    w.WriteNumber("rxKicksPerFrame", Math.Round(rxKicks, 4));
                    w.WriteNumber("txKicksPerFrame", Math.Round(txKicks, 4));
                    w.WriteNumber("allocatedBytes", allocated);
                    w.WriteNumber("failed", failed);
                });
            }
            else
            {
                Console.WriteLine($"virtio-net loopback frame={fs} mrg_rxbuf={(mrg ? "on" : "off")} batch={b} callbacks={(cb ? "on" : "off")}: {done} frames in {elapsed.TotalMilliseconds:F0} ms");
                Console.WriteLine($"  {pps / 1e6:F2} M frames/s, {ns:F1} ns/frame, {pps * fs * 8 / 1e9:F2} Gbit/s, {allocated} bytes allocated, {failed} failed");
                Console.WriteLine($"  kicks per frame: rx {rxKicks:F4}, tx {txKicks:F4}");
            }

            return failed == 0 ? 0 : 1;
        });
        return command;
    }
}
