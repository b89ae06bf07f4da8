using System.CommandLine;
using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using Virtio.Devices.Net;

namespace Virtio.Cli.Ping;

/// <summary>
/// <c>virtio ping</c>: a virtio-net device on the stream backend pings a peer over a Unix socket in QEMU's
/// <c>-netdev stream</c> framing, for example a QEMU guest started with
/// <c>-netdev stream,id=n0,server=off,addr.type=unix,addr.path=SOCK -device virtio-net-pci,netdev=n0</c>.
/// </summary>
public static class PingCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Build()
    {
        var listen = new Option<string?>("--listen") { Description = "listen on this Unix socket path and take one connection (QEMU with server=off connects to it)" };
        var connect = new Option<string?>("--connect") { Description = "connect to this Unix socket path (QEMU with server=on listens on it)" };
        var target = new Option<string>("--target") { Description = "the peer's IPv4 address", DefaultValueFactory = _ => "10.0.2.15" };
        var source = new Option<string>("--source") { Description = "this side's IPv4 address", DefaultValueFactory = _ => "10.0.2.2" };
        var count = new Option<int>("--count") { Description = "echo requests to send", DefaultValueFactory = _ => 3 };
        var timeout = new Option<int>("--timeout") { Description = "seconds to wait for the connection and the first ARP reply (a guest may be booting)", DefaultValueFactory = _ => 120 };
        var pcap = new Option<string?>("--pcap") { Description = "also write every frame on the wire to this capture file" };
        var command = new Command("ping", "ARP and ICMP echo from a virtio-net device over a QEMU -netdev stream Unix socket")
        {
            listen, connect, target, source, count, timeout, pcap,
        };
        command.SetAction(parse =>
        {
            string? listenPath = parse.GetValue(listen), connectPath = parse.GetValue(connect);
            int n = parse.GetValue(count), seconds = parse.GetValue(timeout);
            if ((listenPath is null) == (connectPath is null) || n < 1 || seconds < 1
                || !IPAddress.TryParse(parse.GetValue(target), out IPAddress? peer) || !IPAddress.TryParse(parse.GetValue(source), out IPAddress? self))
            {
                Console.Error.WriteLine("virtio ping: one of --listen PATH or --connect PATH, --count and --timeout positive, --target and --source IPv4 addresses");
                return 2;
            }

            try
            {
                return Run(listenPath, connectPath, peer, self, n, TimeSpan.FromSeconds(seconds), parse.GetValue(pcap));
            }
            catch (Exception e) when (e is SocketException or IOException or TimeoutException or InvalidOperationException)
            {
                Console.Error.WriteLine($"virtio ping: {e.Message}");
                return 1;
            }
        });
        return command;
    }

    private static int Run(string? listenPath, string? connectPath, IPAddress peer, IPAddress self, int count, TimeSpan timeout, string? pcapPath)
    {
        using Socket socket = Open(listenPath, connectPath, timeout);
        StreamNetBackend stream = StreamNetBackend.FromSocket(socket);
        PcapNetBackend? tap = pcapPath is null ? null : new PcapNetBackend(stream, pcapPath);
        try
        {
            using var ping = new NetPing(tap ?? (INetBackend)stream, self);
            Console.WriteLine($"virtio ping {peer} from {self} ({NetPing.DefaultMac}) over {listenPath ?? connectPath}");
            PhysicalAddress? mac = ping.Resolve(peer, timeout, TimeSpan.FromSeconds(1));
            if (mac is null)
            {
                Console.WriteLine($"no ARP reply from {peer} within {timeout.TotalSeconds:F0} s");
                return 1;
            }

            Console.WriteLine($"{peer} is at {mac}");
            int replies = 0;
            for (int seq = 1; seq <= count; seq++)
            {
                TimeSpan? rtt = ping.Echo(peer, mac, (ushort)seq, TimeSpan.FromSeconds(5));
                Console.WriteLine(rtt is { } t ? $"echo reply from {peer}: icmp_seq={seq} time={t.TotalMilliseconds:F2} ms" : $"no echo reply for icmp_seq={seq}");
                replies += rtt is null ? 0 : 1;
            }

            NetStatistics s = ping.Device.Statistics;
            Console.WriteLine($"{count} sent, {replies} received; device: {s.TxPackets} frames sent, {s.RxPackets} received, {s.Dropped} dropped");
            return replies == count ? 0 : 1;
        }
        finally
        {
            tap?.Dispose();
            stream.DisposeAsync().AsTask().Wait(TimeSpan.FromSeconds(5));
        }
    }

    private static Socket Open(string? listenPath, string? connectPath, TimeSpan timeout)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            if (connectPath is not null)
            {
                socket.Connect(new UnixDomainSocketEndPoint(connectPath));
                return socket;
            }

            File.Delete(listenPath!);
            socket.Bind(new UnixDomainSocketEndPoint(listenPath!));
            socket.Listen(1);
            Console.WriteLine($"waiting for a connection on {listenPath}");
            using var cancel = new CancellationTokenSource(timeout);
            Socket peer;
            try
            {
                peer = socket.AcceptAsync(cancel.Token).AsTask().GetAwaiter().GetResult();
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"nobody connected to {listenPath} within {timeout.TotalSeconds:F0} s");
            }

            socket.Dispose();
            return peer;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }
}
