using System.CommandLine;
using Microsoft.Extensions.Logging;
using Virtio.Cli.CommandLine;
using Virtio.Devices.Net;
using Virtio.Workloads.Bench;

namespace Virtio.Cli.Bench;

/// <summary><c>virtio bench net</c>: the command-line face of <see cref="NetBench"/>.</summary>
internal static class NetBenchCommand
{
    public static Command Build()
    {
        Option<int> frameSize = CliOption.WholeNumber("--frame-size", "Ethernet frame bytes without the virtio-net header", 64, VirtioNetDevice.MinFrameLength, VirtioNetDevice.MaxFrameLength);
        Option<string?> mergeable = CliOption.Bool("--mrg-rxbuf", "negotiate MRG_RXBUF: 1536-byte rx buffers, frames span several (true|false)", true);
        Option<int> batch = CliOption.WholeNumber("--batch", "frames per tx kick", 32, 1, 4096);
        Option<string?> callbacks = CliOption.Bool("--callbacks", "the guest driver keeps used-buffer callbacks on (used_event and a fence per buffer) instead of polling with them off (true|false)", false);
        Option<long> frames = CliOption.WholeNumber("--frames", "frames in the measured run", 5_000_000, 1, long.MaxValue);
        var format = OutputFormat.Create("output format: json prints one object");
        var command = new Command("net", "virtio-net frames through the loopback backend, tx to rx, through virtio-mmio, one thread")
        {
            frameSize, mergeable, batch, callbacks, frames, format.Format, format.Json,
        };
        CliRun.SetAction(command, "bench net", format, null, null, run =>
        {
            int fs = run.Get(frameSize), b = run.Get(batch);
            long n = run.Get(frames);
            bool mrg = run.Parse.GetBoolean(mergeable) ?? true, cb = run.Parse.GetBoolean(callbacks) ?? false;
            if (NetBench.Validate(fs, mrg, b) is { } error)
            {
                return run.Fail(error);
            }

            using ILoggerFactory logging = run.Logging();
            using var bench = new NetBench(fs, mrg, b, cb, logging);
            NetBenchReport report = bench.Measure(n, Math.Min(n, 500_000));
            return run.Print(run.Json ? report.ToJson() + Environment.NewLine : report.ToText(), report.Failed == 0 ? ExitCodes.Success : ExitCodes.Found);
        });
        return command;
    }
}
