using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using Virtio.Devices.Net;

namespace Virtio.Workloads.Ping;

/// <summary>
/// <c>virtio ping</c>'s run: a virtio-net device on a QEMU <c>-netdev stream</c> Unix socket, ARP then ICMP echo,
/// each step printed as it happens.
/// </summary>
public static class NetPingSession
{
    /// <summary>
    /// Opens the stream socket (connecting to <paramref name="connectPath"/>, or listening on
    /// <paramref name="listenPath"/> for one connection within <paramref name="timeout"/>), resolves
    /// <paramref name="peer"/> by ARP, sends <paramref name="count"/> echo requests and prints each step to
    /// <paramref name="output"/>; every frame is also written to <paramref name="capture"/> when given.
    /// </summary>
    /// <returns>True when the peer answered ARP and every echo request.</returns>
    /// <exception cref="TimeoutException">Nobody connected to <paramref name="listenPath"/> within <paramref name="timeout"/>.</exception>
    public static bool Run(TextWriter output, string? listenPath, string? connectPath, IPAddress peer, IPAddress self, int count, TimeSpan timeout, Stream? capture)
    {
        using Socket socket = Open(output, listenPath, connectPath, timeout);
        StreamNetBackend stream = StreamNetBackend.FromSocket(socket);
        PcapNetBackend? tap = capture is null ? null : new PcapNetBackend(stream, capture, leaveOpen: true);
        try
        {
            using var ping = new NetPing(tap ?? (INetBackend)stream, self);
            output.WriteLine($"virtio ping {peer} from {self} ({NetPing.DefaultMac}) over {listenPath ?? connectPath}");
            output.Flush();
            PhysicalAddress? mac = ping.Resolve(peer, timeout, TimeSpan.FromSeconds(1));
            if (mac is null)
            {
                output.WriteLine($"no ARP reply from {peer} within {timeout.TotalSeconds:F0} s");
                return false;
            }

            output.WriteLine($"{peer} is at {mac}");
            int replies = 0;
            for (int seq = 1; seq <= count; seq++)
            {
                TimeSpan? rtt = ping.Echo(peer, mac, (ushort)seq, TimeSpan.FromSeconds(5));
                output.WriteLine(rtt is { } t ? $"echo reply from {peer}: icmp_seq={seq} time={t.TotalMilliseconds:F2} ms" : $"no echo reply for icmp_seq={seq}");
                output.Flush();
                replies += rtt is null ? 0 : 1;
            }

            NetStatistics s = ping.Device.Statistics;
            output.WriteLine($"{count} sent, {replies} received; device: {s.TxPackets} frames sent, {s.RxPackets} received, {s.Dropped} dropped");
            return replies == count;
        }
        finally
        {
            tap?.Dispose();
            stream.DisposeAsync().AsTask().Wait(TimeSpan.FromSeconds(5));
        }
    }

    private static Socket Open(TextWriter output, string? listenPath, string? connectPath, TimeSpan timeout)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            if (connectPath is not null)
            {
                socket.Connect(new UnixDomainSocketEndPoint(connectPath));
                return socket;
            }

            socket.Bind(new UnixDomainSocketEndPoint(listenPath!));
            socket.Listen(1);
            output.WriteLine($"waiting for a connection on {listenPath}");
            output.Flush();
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
