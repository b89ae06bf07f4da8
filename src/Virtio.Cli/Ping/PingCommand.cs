using System.CommandLine;
using System.Net;
using System.Net.Sockets;
using Virtio.Cli.CommandLine;
using Virtio.Workloads.Ping;
using Virtio.VhostUser;

namespace Virtio.Cli.Ping;

/// <summary>
/// <c>virtio ping</c>: a virtio-net device on the stream backend pings a peer over a Unix socket in QEMU's
/// <c>-netdev stream</c> framing (<see cref="NetPingSession"/>). Exit codes: 0 every echo answered; 2 the peer did not
/// answer (ARP or an echo); 1 bad input, or no connection.
/// </summary>
internal static class PingCommand
{
    public static Command Build()
    {
        var listen = new Option<string?>("--listen") { Description = "listen on this Unix socket path and take one connection (QEMU with server=off connects to it); only a stale socket there is replaced" };
        var connect = new Option<string?>("--connect") { Description = "connect to this Unix socket path (QEMU with server=on listens on it)" };
        Option<IPAddress> target = IPv4("--target", "the peer's IPv4 address", "10.0.2.15");
        Option<IPAddress> source = IPv4("--source", "this side's IPv4 address", "10.0.2.2");
        Option<int> count = CliOption.WholeNumber("--count", "echo requests to send (ICMP sequence numbers are 16-bit)", 3, 1, ushort.MaxValue);
        Option<int> timeout = CliOption.WholeNumber("--timeout", "seconds to wait for the connection and the first ARP reply (a guest may be booting), up to a day", 120, 1, 86_400);
        Option<string?> pcap = CliOption.OutputFile("--pcap", "also write every frame on the wire to this capture file");
        var command = new Command("ping", "ARP and ICMP echo from a virtio-net device over a QEMU -netdev stream Unix socket") { listen, connect, target, source, count, timeout, pcap };
        CliRun.SetAction(command, "ping", format: null, output: null, error: null, run =>
        {
            string? listenPath = run.Get(listen), connectPath = run.Get(connect);
            string? error = (listenPath, connectPath) switch
            {
                (null, null) => "give --listen PATH or --connect PATH (the Unix socket QEMU's -netdev stream uses)",
                (not null, not null) => "give --listen or --connect, not both",
                (not null, null) => UnixSocketPath.PrepareToListen("--listen", listenPath),
                _ => UnixSocketPath.CheckToConnect("--connect", connectPath!, " (start QEMU with server=on first, or use --listen)"),
            };
            if (error is not null)
            {
                return run.Fail(error);
            }

            string? pcapPath = run.Get(pcap);
            FileStream? capture = null;
            try
            {
                capture = pcapPath is null ? null : new FileStream(pcapPath, FileMode.Create, FileAccess.Write, FileShare.Read);
                return NetPingSession.Run(run.Out, listenPath, connectPath, run.Get(target)!, run.Get(source)!, run.Get(count), TimeSpan.FromSeconds(run.Get(timeout)), capture)
                    ? ExitCodes.Success : ExitCodes.Found;
            }
            catch (Exception e) when (capture is null && pcapPath is not null && e is IOException or UnauthorizedAccessException)
            {
                return run.Fail($"--pcap {pcapPath}: {Program.OneLine(e.Message)}");
            }
            catch (Exception e) when (e is SocketException or IOException or TimeoutException or InvalidOperationException or UnauthorizedAccessException)
            {
                return run.Fail((e is TimeoutException ? string.Empty : $"{listenPath ?? connectPath}: ") + Program.OneLine(e.Message));
            }
            finally
            {
                capture?.Dispose();
            }
        });
        return command;
    }

    private static Option<IPAddress> IPv4(string name, string description, string defaultValue) =>
        new(name)
        {
            Description = description,
            DefaultValueFactory = _ => IPAddress.Parse(defaultValue),
            CustomParser = r => NetPing.TryParseIPv4(CliOption.Token(r), defaultValue, out IPAddress? address) is { } why
                ? CliOption.Refuse<IPAddress?>(r, $"{name} {CliOption.Token(r)}: {why}", null) : address,
        };
}
