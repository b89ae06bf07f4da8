using System.CommandLine;
using System.Text.Json;
using Virtio.Cli.CommandLine;
using Virtio.Workloads.Bench;
using Virtio.Devices.Net;

namespace Virtio.Cli.Bench;

/// <summary><c>virtio bench net</c>: the command-line face of <see cref="NetBench"/>.</summary>
internal static class NetBenchCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Build()
    {
        Option<int> frameSize = CliOption.WholeNumber("--frame-size", "Ethernet frame bytes without the virtio-net header", 64, VirtioNetDevice.MinFrameLength, VirtioNetDevice.MaxFrameLength);
        Option<string?> mergeable = CliOption.Bool("--mrg-rxbuf", "negotiate MRG_RXBUF: 1536-byte rx buffers, frames span several (true|false)", true);
        Option<int> batch = CliOption.WholeNumber("--batch", "frames per tx kick", 32, 1, 4096);
        Option<string?> callbacks = CliOption.Bool("--callbacks", "the guest driver keeps used-buffer callbacks on (used_event and a fence per buffer) instead of polling with them off (true|false)", false);
        Option<long> frames = CliOption.LargeWholeNumber("--frames", "frames in the measured run", 5_000_000, 1, long.MaxValue);
        var format = OutputFormat.Create("output format: json prints one object");
        var command = new Command("net", "virtio-net frames through the loopback backend, tx to rx, through virtio-mmio, one thread")
        {
            frameSize, mergeable, batch, callbacks, frames, format.Format, format.Json,
        };
        command.SetAction(parse =>
        {
            if (format.Resolve(parse, parse.InvocationConfiguration.Error, "bench net") is not { } fmt)
            {
                return ExitCodes.Error;
            }

            bool json = fmt == "json";
            int fs = parse.GetValue(frameSize), b = parse.GetValue(batch);
            long n = parse.GetValue(frames);
            bool mrg = parse.GetBoolean(mergeable) ?? true, cb = parse.GetBoolean(callbacks) ?? false;
            TextWriter stdout = parse.InvocationConfiguration.Output;
            int buffersPerBatch = b * NetBench.BuffersPerFrame(fs, mrg);
            if (buffersPerBatch > CliOption.MaxRingSize)
            {
                parse.InvocationConfiguration.Error.WriteLine(
                    $"virtio bench net: --batch {b} with --frame-size {fs}: {buffersPerBatch} rx buffers per batch, more than a ring of {CliOption.MaxRingSize} holds; lower --batch");
                return ExitCodes.Error;
            }

            using var bench = new NetBench(fs, mrg, b, cb);
            var (elapsed, done, allocated, failed) = bench.Run(n, Math.Min(n, 500_000));
            double ns = elapsed.TotalNanoseconds / done;
            double pps = done / elapsed.TotalSeconds;
            double rxKicks = (double)bench.RxKicks / done, txKicks = (double)bench.TxKicks / done;
            if (json)
            {
                stdout.WriteLine(JsonSerializer.Serialize(
                    new NetBenchJson(fs, mrg, b, cb, done, Math.Round(pps), Math.Round(ns, 2), Math.Round(pps * fs * 8 / 1e9, 3), Math.Round(rxKicks, 4), Math.Round(txKicks, 4), allocated, failed),
                    BenchJsonContext.Default.NetBenchJson));
            }
            else
            {
                stdout.WriteLine($"virtio-net loopback frame={fs} mrg_rxbuf={(mrg ? "on" : "off")} batch={b} callbacks={(cb ? "on" : "off")}: {done} frames in {elapsed.TotalMilliseconds:F0} ms");
                stdout.WriteLine($"  {pps / 1e6:F2} M frames/s, {ns:F1} ns/frame, {pps * fs * 8 / 1e9:F2} Gbit/s, {allocated} bytes allocated, {failed} failed");
                stdout.WriteLine($"  kicks per frame: rx {rxKicks:F4}, tx {txKicks:F4}");
            }

            stdout.Flush();
            return failed == 0 ? ExitCodes.Success : ExitCodes.Found;
        });
        return command;
    }
}
