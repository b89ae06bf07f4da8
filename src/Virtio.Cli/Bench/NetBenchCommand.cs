using System.CommandLine;
using Microsoft.Extensions.Logging;
using Virtio.Cli.CommandLine;
using Virtio.Devices.Net;
using Virtio.Workloads.Bench;

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
        Option<long> frames = CliOption.WholeNumber("--frames", "frames in the measured run", 5_000_000, 1, long.MaxValue);
        var format = OutputFormat.Create("output format: json prints one object");
        var command = new Command("net", "virtio-net frames through the loopback backend, tx to rx, through virtio-mmio, one thread")
        {
            frameSize, mergeable, batch, callbacks, frames, format.Format, format.Json,
        };
        command.SetAction(parse =>
        {
            TextWriter stdout = parse.InvocationConfiguration.Output, stderr = parse.InvocationConfiguration.Error;
            if (format.Resolve(parse, stderr, "bench net") is not { } fmt)
            {
                return ExitCodes.Error;
            }

            int fs = parse.GetValue(frameSize), b = parse.GetValue(batch);
            long n = parse.GetValue(frames);
            bool mrg = parse.GetBoolean(mergeable) ?? true, cb = parse.GetBoolean(callbacks) ?? false;
            if (NetBench.Validate(fs, mrg, b) is { } error)
            {
                stderr.WriteLine($"virtio bench net: {error}");
                return ExitCodes.Error;
            }

            using ILoggerFactory logging = CliLogging.Create(parse);
            using var bench = new NetBench(fs, mrg, b, cb, logging);
            NetBenchReport report = bench.Measure(n, Math.Min(n, 500_000));
            stdout.Write(fmt == "json" ? report.ToJson() + Environment.NewLine : report.ToText());
            stdout.Flush();
            return report.Failed == 0 ? ExitCodes.Success : ExitCodes.Found;
        });
        return command;
    }
}
