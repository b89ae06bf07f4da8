using System.CommandLine;
using Microsoft.Extensions.Logging;
using Virtio.Cli.CommandLine;
using Virtio.Devices.Net;
using Virtio.Diagnostics;
using Virtio.Diagnostics.Faults;
using Virtio.Diagnostics.Watchdog;
using Virtio.VhostUser;
using Virtio.VhostUser.Net;

namespace Virtio.Cli.Serve;

/// <summary>
/// <c>virtio serve net</c>: this project's virtio-net data path served over vhost-user until SIGINT or SIGTERM, for
/// QEMU's <c>-netdev vhost-user,id=n0,chardev=c0 -device virtio-net-pci,netdev=n0</c> with
/// <c>-chardev socket,id=c0,path=PATH</c>.
/// </summary>
public static class ServeNetCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Build()
    {
        var socket = ServeCommand.SocketOption();
        var connect = ServeCommand.ConnectOption();
        var backendOption = new Option<NetBackendSpec>("--backend")
        {
            Description = "where frames go: loopback, stream:SOCKET (connect to QEMU -netdev stream,server=on), stream-listen:SOCKET, discard, generator[:FRAME-SIZE]",
            DefaultValueFactory = _ => Parse("loopback", out string? _)!,
            CustomParser = r =>
            {
                string text = r.Tokens.Count == 0 ? string.Empty : r.Tokens[0].Value;
                NetBackendSpec? spec = Parse(text, out string? error);
                if (error is not null)
                {
                    r.AddError("--backend " + error);
                }

                return spec!;
            },
        };
        var pcap = CliOption.OutputFile("--pcap", "capture every frame either way to this pcap file (tshark reads it)");
        var queuePairs = CliOption.WholeNumber("--queue-pairs", "rx/tx queue pairs (VIRTIO_NET_F_MQ above 1; QEMU: -netdev vhost-user,queues=N and virtio-net-pci,mq=on)", 1, 1, 64);
        var queueSize = CliOption.WholeNumber("--queue-size", "the largest ring the front-end may set: a power of two", 1024, 1, CliOption.MaxRingSize);
        var stats = new Option<bool>("--stats") { Description = "print frame and byte counters and rates once a second, and on exit" };
        var once = ServeCommand.OnceOption();
        var fault = ServeCommand.FaultOption(more: null, rxTx: true);
        var poll = new Option<bool>("--poll")
        {
            Description = "busy-poll the rings with the driver's kicks suppressed, as DPDK's vhost and Linux vhost busy-poll do (a core spins while frames come; after 1 s without any, notifications go back on and the thread sleeps on kicks)",
        };
        var stallTimeout = ServeCommand.StallTimeoutOption();
        var net = new Command("net", "Serve virtio-net (the data path; QEMU keeps the control queue and config) over vhost-user until interrupted")
        {
            socket, connect, backendOption, pcap, queuePairs, queueSize, stats, poll, once, fault, stallTimeout,
        };
        net.SetAction(parse =>
        {
            TextWriter stdout = parse.InvocationConfiguration.Output;
            TextWriter stderr = parse.InvocationConfiguration.Error;
            NetBackendSpec spec = parse.GetValue(backendOption)!;
            int pairs = parse.GetValue(queuePairs), size = parse.GetValue(queueSize);
            DeviceFaultSpec? faultSpec = parse.GetValue(fault);
            string path = parse.GetValue(socket)!;
            string? pcapPath = parse.GetValue(pcap);
            bool polling = parse.GetValue(poll);
            string? error = (size & (size - 1)) != 0 ? $"--queue-size {size}: must be a power of two from 1 to {CliOption.MaxRingSize}"
                : polling && faultSpec is { Kind: DeviceFaultKind.DropKick } ? $"--fault {faultSpec} with --poll: a polling device does not wait for kicks, so a lost one hangs nothing"
                : ServeCommand.CheckFaultRing(faultSpec, 2 * pairs) ?? UnixSocketPath.CheckLength("--socket", path);
            if (error is not null)
            {
                stderr.WriteLine($"virtio serve net: {error}");
                return ExitCodes.Error;
            }

            using ILoggerFactory logging = CliLogging.Create(parse, LogLevel.Information);
            INetBackend? backend = null;
            PcapNetBackend? capture = null;
            try
            {
                if (spec.Kind == NetBackendKind.StreamListen)
                {
                    stdout.WriteLine($"virtio serve net: waiting for a -netdev stream peer on {spec.Path}");
                    stdout.Flush();
                }

                backend = spec.Create(pairs, logging.CreateLogger("Virtio.Net.Stream"));
                capture = pcapPath is null ? null : new PcapNetBackend(backend, pcapPath);
                using VhostUserBackend vhost = VhostUserNet.CreateBackend(capture ?? backend, new VhostUserNetOptions
                {
                    QueuePairs = pairs,
                    QueueSize = size,
                    LoggerFactory = logging,
                    WrapCall = faultSpec is null ? null : faultSpec.WrapCall,
                    PollIdle = polling ? TimeSpan.FromSeconds(1) : TimeSpan.Zero,
                });
                faultSpec?.ApplyToKicks(vhost.Device);
                if (faultSpec is not null)
                {
                    stdout.WriteLine($"virtio serve net: injecting {faultSpec}; expect the verdict {HangReport.VerdictName(faultSpec.ExpectedVerdict)}");
                }

                using QueueWatchdog watchdog = DeviceWatchdog.Start(vhost.Device, TimeSpan.FromSeconds(parse.GetValue(stallTimeout)), logging.CreateLogger("Virtio.Watchdog"));
                var meter = new NetRateMeter((VirtioNetDevice)vhost.Device);
                using Timer? ticker = parse.GetValue(stats) ? new Timer(_ => Print(stdout, meter), null, 1000, 1000) : null;
                ServeCommand.ServeUntilStopped(vhost, "net", $"{pairs} queue pair(s), backend {spec}{(polling ? ", polling" : string.Empty)}", path, parse.GetValue(connect), parse.GetValue(once), stdout);
                ticker?.Dispose();
                Print(stdout, meter);
                stdout.WriteLine($"virtio serve net: stopped ({vhost.Messages} messages on the last connection)");
                stdout.Flush();
                return ExitCodes.Success;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
            {
                stderr.WriteLine($"virtio serve net: {e.Message}");
                return ExitCodes.Error;
            }
            finally
            {
                capture?.Dispose();
                switch (backend)
                {
                    case IAsyncDisposable async:
                        async.DisposeAsync().AsTask().Wait(TimeSpan.FromSeconds(5));
                        break;
                    case IDisposable disposable:
                        disposable.Dispose();
                        break;
                }
            }
        });
        return net;
    }

    private static NetBackendSpec? Parse(string text, out string? error)
    {
        error = NetBackendSpec.TryParse(text, out NetBackendSpec? spec);
        return spec;
    }

    private static void Print(TextWriter stdout, NetRateMeter meter)
    {
        lock (meter)
        {
            stdout.WriteLine("virtio serve net: " + meter.Sample());
            stdout.Flush();
        }
    }
}
