using System.CommandLine;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using Virtio.Cli.CommandLine;
using Virtio.Diagnostics.Faults;
using Virtio.VhostUser;
using Virtio.VhostUser.Net;

namespace Virtio.Cli.Serve;

/// <summary>
/// <c>virtio serve blk|net</c>: this project's devices served over vhost-user until SIGINT or SIGTERM, by
/// <see cref="VhostUserBlkServer"/> (QEMU <c>-device vhost-user-blk-pci,chardev=c0</c>) and
/// <see cref="VhostUserNetServer"/> (<c>-netdev vhost-user,id=n0,chardev=c0 -device virtio-net-pci,netdev=n0</c>),
/// with <c>-chardev socket,id=c0,path=PATH</c>.
/// </summary>
internal static class ServeCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Build()
    {
        var image = CliOption.InputFile("--image", "serve this disk image file");
        var memory = new Option<ulong>("--memory")
        {
            Description = "serve a zeroed in-memory disk of this size (e.g. 64M, 1G)",
            CustomParser = r =>
            {
                string text = r.Tokens.Count == 0 ? string.Empty : r.Tokens[0].Value;
                if (BlkServeOptions.TryParseSize(text, out ulong bytes))
                {
                    return bytes;
                }

                r.AddError($"--memory {text}: not a size in whole 512-byte sectors (e.g. 64M, 1G)");
                return 0;
            },
        };
        var readOnly = new Option<bool>("--read-only") { Description = "refuse writes (VIRTIO_BLK_F_RO)" };
        var numQueues = CliOption.WholeNumber("--num-queues", "request queues (VIRTIO_BLK_F_MQ above 1)", 1, 1, 64);
        Common common = Common.Create("stall-backend:N (the N-th request never completes)");
        var blk = new Command("blk", "Serve virtio-blk over vhost-user until interrupted")
        {
            common.Socket, common.Connect, image, memory, readOnly, numQueues, common.QueueSize, common.Once, common.Fault, common.StallTimeout,
        };
        blk.SetAction(parse => Run(parse, "blk", (status, logging, stop) => VhostUserBlkServer.Serve(
            new BlkServeOptions
            {
                ImagePath = parse.GetValue(image)?.FullName, MemoryBytes = parse.GetValue(memory), ReadOnly = parse.GetValue(readOnly), NumQueues = parse.GetValue(numQueues),
                Socket = parse.GetValue(common.Socket)!, Connect = parse.GetValue(common.Connect), Once = parse.GetValue(common.Once), QueueSize = parse.GetValue(common.QueueSize),
                Fault = parse.GetValue(common.Fault), StallTimeout = TimeSpan.FromSeconds(parse.GetValue(common.StallTimeout)), LoggerFactory = logging, Status = status,
            },
            stop)));

        var backend = new Option<NetBackendSpec>("--backend")
        {
            Description = "where frames go: loopback, stream:SOCKET (connect to QEMU -netdev stream,server=on), stream-listen:SOCKET, discard, generator[:FRAME-SIZE]",
            DefaultValueFactory = _ => NetBackendSpec.Loopback,
            CustomParser = r =>
            {
                if (NetBackendSpec.TryParse(r.Tokens.Count == 0 ? string.Empty : r.Tokens[0].Value, out NetBackendSpec? spec) is { } error)
                {
                    r.AddError("--backend " + error);
                }

                return spec!;
            },
        };
        var pcap = CliOption.OutputFile("--pcap", "capture every frame either way to this pcap file (tshark reads it)");
        var queuePairs = CliOption.WholeNumber("--queue-pairs", "rx/tx queue pairs (VIRTIO_NET_F_MQ above 1; QEMU: -netdev vhost-user,queues=N and virtio-net-pci,mq=on)", 1, 1, 64);
        var stats = new Option<bool>("--stats") { Description = "print frame and byte counters and rates once a second, and on exit" };
        Common netCommon = Common.Create(moreFaults: null, rxTx: true);
        var poll = new Option<bool>("--poll")
        {
            Description = "busy-poll the rings with the driver's kicks suppressed, as DPDK's vhost and Linux vhost busy-poll do (a core spins while frames come; after 1 s without any, notifications go back on and the thread sleeps on kicks)",
        };
        var net = new Command("net", "Serve virtio-net (the data path; QEMU keeps the control queue and config) over vhost-user until interrupted")
        {
            netCommon.Socket, netCommon.Connect, backend, pcap, queuePairs, netCommon.QueueSize, stats, poll, netCommon.Once, netCommon.Fault, netCommon.StallTimeout,
        };
        net.SetAction(parse => Run(parse, "net", (status, logging, stop) => VhostUserNetServer.Serve(
            new NetServeOptions
            {
                Backend = parse.GetValue(backend)!, PcapPath = parse.GetValue(pcap), QueuePairs = parse.GetValue(queuePairs), StatsInterval = parse.GetValue(stats) ? TimeSpan.FromSeconds(1) : null, PollIdle = parse.GetValue(poll) ? TimeSpan.FromSeconds(1) : TimeSpan.Zero,
                Socket = parse.GetValue(netCommon.Socket)!, Connect = parse.GetValue(netCommon.Connect), Once = parse.GetValue(netCommon.Once), QueueSize = parse.GetValue(netCommon.QueueSize),
                Fault = parse.GetValue(netCommon.Fault), StallTimeout = TimeSpan.FromSeconds(parse.GetValue(netCommon.StallTimeout)), LoggerFactory = logging, Status = status,
            },
            stop)));
        return new Command("serve", "Serve a device over vhost-user") { blk, net };
    }

    /// <summary>
    /// Runs <paramref name="serve"/> with a logger (default level information), its progress lines on stdout and a
    /// token that SIGINT and SIGTERM cancel, so that they end serving cleanly (rings stopped after their requests
    /// finish, memory unmapped) instead of killing the process; a refusal or an I/O error is one line on stderr.
    /// </summary>
    private static int Run(ParseResult parse, string command, Action<Action<string>, ILoggerFactory, CancellationToken> serve)
    {
        TextWriter stdout = parse.InvocationConfiguration.Output;
        using ILoggerFactory logging = CliLogging.Create(parse, LogLevel.Information);
        using var stop = new CancellationTokenSource();
        using PosixSignalRegistration sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
        using PosixSignalRegistration sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
        try
        {
            serve(line => { stdout.WriteLine($"virtio serve {command}: {line}"); stdout.Flush(); }, logging, stop.Token);
            return ExitCodes.Success;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            parse.InvocationConfiguration.Error.WriteLine($"virtio serve {command}: {e.Message}");
            return ExitCodes.Error;
        }

        void Stop(PosixSignalContext context)
        {
            context.Cancel = true;
            stop.Cancel();
        }
    }

    /// <summary>
    /// --fault: drop-kick:N and drop-call:N, each for every ring or one (<c>:INDEX</c>; with <paramref name="rxTx"/>
    /// also <c>:rx</c>/<c>:tx</c>, virtio-net's even and odd rings), and the device's own kinds described by <paramref name="more"/>.
    /// </summary>
    private static Option<DeviceFaultSpec?> FaultOption(string? more, bool rxTx)
    {
        string ring = rxTx ? "[:rx|:tx|:RING]" : "[:RING]";
        return new("--fault")
        {
            Description = $"inject a fault: drop-kick:N{ring}, drop-call:N{ring} (the N-th on each chosen ring, every ring without a suffix, is lost)" + (more is null ? string.Empty : " or " + more),
            CustomParser = r =>
            {
                string text = r.Tokens.Count == 0 ? string.Empty : r.Tokens[0].Value;
                if (DeviceFaultSpec.TryParse(text, out DeviceFaultSpec? spec) && (more is not null || spec!.Kind != DeviceFaultKind.StallBackend)
                    && (rxTx || spec!.Rings is not (DeviceFaultRings.Rx or DeviceFaultRings.Tx)))
                {
                    return spec;
                }

                r.AddError($"--fault {text}: must be drop-kick:N{ring}, drop-call:N{ring}{(more is null ? string.Empty : " or stall-backend:N")} with N from 1");
                return null;
            },
        };
    }

    /// <summary>The options both devices take.</summary>
    private sealed record Common(Option<string> Socket, Option<bool> Connect, Option<int> QueueSize, Option<bool> Once, Option<DeviceFaultSpec?> Fault, Option<double> StallTimeout)
    {
        public static Common Create(string? moreFaults, bool rxTx = false) => new(
            new Option<string>("--socket") { Description = "the vhost-user Unix socket path", Required = true },
            new Option<bool>("--connect") { Description = "connect to a front-end listening on --socket (QEMU server=on) instead of listening" },
            CliOption.WholeNumber("--queue-size", "the largest ring the front-end may set: a power of two", 1024, 1, CliOption.MaxRingSize),
            new Option<bool>("--once") { Description = "serve one connection, then exit" },
            FaultOption(moreFaults, rxTx),
            CliOption.Seconds("--stall-timeout", "seconds without progress, work outstanding, before the watchdog logs its diagnosis", 5, 0, 3600, minExclusive: true));
    }
}
