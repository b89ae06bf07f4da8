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
    public static Command Build()
    {
        var image = CliOption.InputFile("--image", "serve this disk image file");
        var memory = new Option<ulong>("--memory")
        {
            Description = "serve a zeroed in-memory disk of this size (e.g. 64M, 1G)",
            CustomParser = r => BlkServeOptions.TryParseSize(CliOption.Token(r), out ulong bytes)
                ? bytes : CliOption.Refuse(r, $"--memory {CliOption.Token(r)}: not a size in whole 512-byte sectors (e.g. 64M, 1G)", 0UL),
        };
        var readOnly = new Option<bool>("--read-only") { Description = "refuse writes (VIRTIO_BLK_F_RO)" };
        var numQueues = CliOption.WholeNumber("--num-queues", "request queues (VIRTIO_BLK_F_MQ above 1)", 1, 1, 64);
        Common common = Common.Create("stall-backend:N (the N-th request never completes)");
        var blk = new Command("blk", "Serve virtio-blk over vhost-user until interrupted")
        {
            common.Socket, common.Connect, image, memory, readOnly, numQueues, common.QueueSize, common.Once, common.Fault, common.StallTimeout,
        };
        CliRun.SetAction(blk, "serve blk", null, null, null, run => Serve(run, (status, logging, stop) => VhostUserBlkServer.Serve(
            new BlkServeOptions
            {
                ImagePath = run.Get(image)?.FullName, MemoryBytes = run.Get(memory), ReadOnly = run.Get(readOnly), NumQueues = run.Get(numQueues),
                Socket = run.Get(common.Socket)!, Connect = run.Get(common.Connect), Once = run.Get(common.Once), QueueSize = run.Get(common.QueueSize),
                Fault = run.Get(common.Fault), StallTimeout = TimeSpan.FromSeconds(run.Get(common.StallTimeout)), LoggerFactory = logging, Status = status,
            },
            stop)));

        var backend = new Option<NetBackendSpec>("--backend")
        {
            Description = "where frames go: loopback, stream:SOCKET (connect to QEMU -netdev stream,server=on), stream-listen:SOCKET, discard, generator[:FRAME-SIZE]",
            DefaultValueFactory = _ => NetBackendSpec.Loopback,
            CustomParser = r => NetBackendSpec.TryParse(CliOption.Token(r), out NetBackendSpec? spec) is { } error ? CliOption.Refuse(r, "--backend " + error, spec!) : spec!,
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
        CliRun.SetAction(net, "serve net", null, null, null, run => Serve(run, (status, logging, stop) => VhostUserNetServer.Serve(
            new NetServeOptions
            {
                Backend = run.Get(backend)!, PcapPath = run.Get(pcap), QueuePairs = run.Get(queuePairs), StatsInterval = run.Get(stats) ? TimeSpan.FromSeconds(1) : null, PollIdle = run.Get(poll) ? TimeSpan.FromSeconds(1) : TimeSpan.Zero,
                Socket = run.Get(netCommon.Socket)!, Connect = run.Get(netCommon.Connect), Once = run.Get(netCommon.Once), QueueSize = run.Get(netCommon.QueueSize),
                Fault = run.Get(netCommon.Fault), StallTimeout = TimeSpan.FromSeconds(run.Get(netCommon.StallTimeout)), LoggerFactory = logging, Status = status,
            },
            stop)));
        return new Command("serve", "Serve a device over vhost-user") { blk, net };
    }

    /// <summary>
    /// Runs <paramref name="serve"/> with a logger (default level information), its progress lines on stdout and a
    /// token that SIGINT and SIGTERM cancel, so that they end serving cleanly (rings stopped after their requests
    /// finish, memory unmapped) instead of killing the process; a refusal or an I/O error is one line on stderr.
    /// </summary>
    private static int Serve(CliRun run, Action<Action<string>, ILoggerFactory, CancellationToken> serve)
    {
        using ILoggerFactory logging = run.Logging(LogLevel.Information);
        using var stop = new CancellationTokenSource();
        using PosixSignalRegistration sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
        using PosixSignalRegistration sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
        try
        {
            serve(line => run.Print($"virtio {run.Name}: {line}{run.Out.NewLine}", 0), logging, stop.Token);
            return ExitCodes.Success;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            return run.Fail(e.Message);
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
            CustomParser = r => DeviceFaultSpec.TryParse(CliOption.Token(r), out DeviceFaultSpec? spec) && (more is not null || spec!.Kind != DeviceFaultKind.StallBackend)
                && (rxTx || spec!.Rings is not (DeviceFaultRings.Rx or DeviceFaultRings.Tx))
                ? spec
                : CliOption.Refuse<DeviceFaultSpec?>(r, $"--fault {CliOption.Token(r)}: must be drop-kick:N{ring}, drop-call:N{ring}{(more is null ? string.Empty : " or stall-backend:N")} with N from 1", null),
        };
    }

    // The options both devices take.
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
