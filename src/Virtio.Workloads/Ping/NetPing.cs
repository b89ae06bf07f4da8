using System.Buffers.Binary;
using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using Virtio.Device;
using Virtio.Devices.Net;
using Virtio.Driver;
using Virtio.Memory;
using Virtio.Transport;

namespace Virtio.Workloads.Ping;

/// <summary>
/// A virtio-net device with the built-in guest driver on top, speaking just enough IPv4 to ping a peer: it resolves
/// the target with ARP, sends ICMP echo requests and matches the replies. Whatever backend the device has (a QEMU
/// guest behind <c>-netdev stream</c>, another device) is the wire; every frame crosses the device both ways.
/// </summary>
public sealed class NetPing : IDisposable
{
    /// <summary>The device's MAC (QEMU's default NIC MAC).</summary>
    public static readonly PhysicalAddress DefaultMac = PhysicalAddress.Parse("52-54-00-12-34-56");

    /// <summary>
    /// Reads an IPv4 address in dotted-quad form (<c>10.0.2.15</c>), the only form ping takes: the device speaks ARP
    /// and ICMP over IPv4. <c>IPAddress.TryParse</c> alone would also take
    /// <c>10</c> or <c>10.2</c> (inet_aton's short forms) and IPv6.
    /// </summary>
    /// <param name="text">The text to read.</param>
    /// <param name="example">An address the reason shows as an example of the expected form.</param>
    /// <param name="address">The address, or null when <paramref name="text"/> is not one.</param>
    /// <returns>Null, or why <paramref name="text"/> will not do.</returns>
    public static string? TryParseIPv4(string text, string example, out IPAddress? address)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.Split('.').Length == 4 && IPAddress.TryParse(text, out address) && address.AddressFamily == AddressFamily.InterNetwork)
        {
            return null;
        }

        address = null;
        return IPAddress.TryParse(text, out IPAddress? other) && other.AddressFamily == AddressFamily.InterNetworkV6
            ? $"an IPv6 address; ping speaks ARP and ICMP over IPv4 (like {example})"
            : $"not an IPv4 address (four numbers 0 to 255, like {example})";
    }

    private const int QueueSize = 64;
    private const int RxBufferBytes = 1536;
    private const int EthernetHeader = 14;
    private const int IpHeader = 20;
    private const int IcmpHeader = 8;
    private const int PayloadBytes = 32;

    private readonly GuestMemory _memory;
    private readonly VirtioNetDevice _device;
    private readonly VirtioMmioGuestDriver<int> _driver;
    private readonly DriverQueue<int> _rx;
    private readonly DriverQueue<int> _tx;
    private readonly GuestSegment[] _rxBuffers = new GuestSegment[QueueSize];
    private readonly GuestSegment _txBuffer;
    private readonly byte[] _mac;
    private readonly byte[] _source;
    private readonly ushort _identifier;

    /// <summary>Sets up guest RAM, the device on <paramref name="backend"/>, the driver, and posts the rx buffers.</summary>
    /// <param name="backend">The wire.</param>
    /// <param name="source">This side's IPv4 address.</param>
    public NetPing(INetBackend backend, IPAddress source)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(source);
        _source = source.MapToIPv4().GetAddressBytes();
        _mac = DefaultMac.GetAddressBytes();
        _identifier = (ushort)Environment.ProcessId;
        _memory = GuestMemory.Create(4 << 20);
        _device = new VirtioNetDevice(_memory, backend, new VirtioNetDeviceOptions { MacAddress = DefaultMac });
        _driver = new VirtioMmioGuestDriver<int>(new VirtioMmioTransport(_device), _memory, 0x1_0000, _memory.EndAddress - 0x1_0000);
        _driver.Probe(VirtioFeature.RingEventIdx | NetFeature.Mac | NetFeature.Status | NetFeature.MrgRxBuf, 2, QueueSize);
        _rx = _driver.Queues[0];
        _tx = _driver.Queues[1];
        _txBuffer = new GuestSegment(_driver.Allocate(RxBufferBytes), RxBufferBytes);
        for (int i = 0; i < QueueSize; i++)
        {
            _rxBuffers[i] = new GuestSegment(_driver.Allocate(RxBufferBytes), RxBufferBytes);
            Post(i);
        }

        _rx.Kick();
    }

    /// <summary>The device (statistics, status).</summary>
    public VirtioNetDevice Device => _device;

    /// <summary>
    /// Asks for <paramref name="target"/>'s MAC with an ARP request every <paramref name="retry"/> until a reply comes
    /// or <paramref name="timeout"/> passes (a booting guest answers once its interface is up).
    /// </summary>
    /// <returns>The MAC, or null on timeout.</returns>
    public PhysicalAddress? Resolve(IPAddress target, TimeSpan timeout, TimeSpan retry)
    {
        byte[] ip = target.MapToIPv4().GetAddressBytes();
        long deadline = Environment.TickCount64 + (long)timeout.TotalMilliseconds;
        while (Environment.TickCount64 < deadline)
        {
            Send(ArpRequest(ip));
            long next = Math.Min(deadline, Environment.TickCount64 + (long)retry.TotalMilliseconds);
            if (WaitFor(next, frame => IsArpReplyFrom(frame, ip)) is { } reply)
            {
                return new PhysicalAddress(reply.AsSpan(22, 6).ToArray());
            }
        }

        return null;
    }

    /// <summary>Sends one ICMP echo request and waits for its reply.</summary>
    /// <returns>The round-trip time, or null when no valid reply came within <paramref name="timeout"/>.</returns>
    public TimeSpan? Echo(IPAddress target, PhysicalAddress targetMac, ushort sequence, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(targetMac);
        byte[] ip = target.MapToIPv4().GetAddressBytes();
        long start = Environment.TickCount64;
        long started = System.Diagnostics.Stopwatch.GetTimestamp();
        Send(EchoRequest(targetMac.GetAddressBytes(), ip, sequence));
        return WaitFor(start + (long)timeout.TotalMilliseconds, frame => IsEchoReply(frame, ip, sequence)) is null
            ? null
            : System.Diagnostics.Stopwatch.GetElapsedTime(started);
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        _driver.Dispose();
        _device.Dispose();
        _memory.Dispose();
    }

    private void Post(int index) => _rx.Add([], _rxBuffers.AsSpan(index, 1), index);

    private void Send(ReadOnlySpan<byte> frame)
    {
        while (_tx.TryGetBuffer(out _, out _))
        {
        }

        Span<byte> packet = _memory.GetSpan(_txBuffer.Address, VirtioNetHeader.Size + frame.Length);
        default(VirtioNetHeader).Write(packet);
        frame.CopyTo(packet[VirtioNetHeader.Size..]);
        if (_tx.Add([new GuestSegment(_txBuffer.Address, (uint)packet.Length)], [], 0) != AddResult.Added)
        {
            throw new InvalidOperationException($"the tx queue refused a frame: {_tx.Error}");
        }

        _tx.Kick();
    }

    /// <summary>Polls the rx ring until a frame matches or the deadline passes; other frames are dropped.</summary>
    private byte[]? WaitFor(long deadline, Func<byte[], bool> match)
    {
        do
        {
            bool any = false;
            while (_rx.TryGetBuffer(out int index, out uint length))
            {
                any = true;
                byte[] frame = _memory.GetSpan(_rxBuffers[index].Address, (int)length)[VirtioNetHeader.Size..].ToArray();
                Post(index); // num_buffers is 1: a 1536-byte buffer holds any frame this side accepts
                _rx.Kick();
                if (match(frame))
                {
                    return frame;
                }
            }

            if (_device.BrokenReason is { } broken)
            {
                throw new InvalidOperationException($"the device broke: {broken}");
            }

            if (!any)
            {
                Thread.Sleep(1);
            }
        }
        while (Environment.TickCount64 < deadline);
        return null;
    }

    private byte[] ArpRequest(byte[] targetIp)
    {
        byte[] f = new byte[EthernetHeader + 28];
        f.AsSpan(0, 6).Fill(0xFF);
        _mac.CopyTo(f, 6);
        BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(12), 0x0806);
        Span<byte> arp = f.AsSpan(EthernetHeader);
        BinaryPrimitives.WriteUInt16BigEndian(arp, 1); // Ethernet
        BinaryPrimitives.WriteUInt16BigEndian(arp[2..], 0x0800); // IPv4
        arp[4] = 6;
        arp[5] = 4;
        BinaryPrimitives.WriteUInt16BigEndian(arp[6..], 1); // request
        _mac.CopyTo(arp[8..]);
        _source.CopyTo(arp[14..]);
        targetIp.CopyTo(arp[24..]);
        return f;
    }

    private bool IsArpReplyFrom(byte[] f, byte[] ip) =>
        f.Length >= EthernetHeader + 28
        && BinaryPrimitives.ReadUInt16BigEndian(f.AsSpan(12)) == 0x0806
        && BinaryPrimitives.ReadUInt16BigEndian(f.AsSpan(EthernetHeader + 6)) == 2
        && f.AsSpan(EthernetHeader + 14, 4).SequenceEqual(ip)
        && f.AsSpan(EthernetHeader + 24, 4).SequenceEqual(_source);

    private byte[] EchoRequest(byte[] targetMac, byte[] targetIp, ushort sequence)
    {
        byte[] f = new byte[EthernetHeader + IpHeader + IcmpHeader + PayloadBytes];
        targetMac.CopyTo(f, 0);
        _mac.CopyTo(f, 6);
        BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(12), 0x0800);
        Span<byte> ip = f.AsSpan(EthernetHeader, IpHeader);
        ip[0] = 0x45;
        BinaryPrimitives.WriteUInt16BigEndian(ip[2..], IpHeader + IcmpHeader + PayloadBytes);
        BinaryPrimitives.WriteUInt16BigEndian(ip[4..], sequence);
        BinaryPrimitives.WriteUInt16BigEndian(ip[6..], 0x4000); // don't fragment
        ip[8] = 64;
        ip[9] = 1; // ICMP
        _source.CopyTo(ip[12..]);
        targetIp.CopyTo(ip[16..]);
        BinaryPrimitives.WriteUInt16BigEndian(ip[10..], NetChecksum.Compute(ip));
        Span<byte> icmp = f.AsSpan(EthernetHeader + IpHeader);
        icmp[0] = 8; // echo request
        BinaryPrimitives.WriteUInt16BigEndian(icmp[4..], _identifier);
        BinaryPrimitives.WriteUInt16BigEndian(icmp[6..], sequence);
        for (int i = 0; i < PayloadBytes; i++)
        {
            icmp[IcmpHeader + i] = (byte)(i + sequence);
        }

        BinaryPrimitives.WriteUInt16BigEndian(icmp[2..], NetChecksum.Compute(icmp));
        return f;
    }

    /// <summary>An echo reply from <paramref name="ip"/> to this side, for this identifier and sequence, with valid checksums and the payload sent.</summary>
    private bool IsEchoReply(byte[] f, byte[] ip, ushort sequence)
    {
        if (f.Length < EthernetHeader + IpHeader + IcmpHeader + PayloadBytes || BinaryPrimitives.ReadUInt16BigEndian(f.AsSpan(12)) != 0x0800)
        {
            return false;
        }

        ReadOnlySpan<byte> header = f.AsSpan(EthernetHeader);
        int ihl = (header[0] & 0x0F) * 4;
        int total = BinaryPrimitives.ReadUInt16BigEndian(header[2..]);
        if ((header[0] >> 4) != 4 || ihl < IpHeader || total > header.Length || total < ihl + IcmpHeader + PayloadBytes
            || header[9] != 1 || !header.Slice(12, 4).SequenceEqual(ip) || !header.Slice(16, 4).SequenceEqual(_source)
            || NetChecksum.Compute(header[..ihl]) != 0)
        {
            return false;
        }

        ReadOnlySpan<byte> icmp = header[ihl..total];
        if (icmp[0] != 0 || NetChecksum.Compute(icmp) != 0
            || BinaryPrimitives.ReadUInt16BigEndian(icmp[4..]) != _identifier || BinaryPrimitives.ReadUInt16BigEndian(icmp[6..]) != sequence)
        {
            return false;
        }

        for (int i = 0; i < PayloadBytes; i++)
        {
            if (icmp[IcmpHeader + i] != (byte)(i + sequence))
            {
                return false;
            }
        }

        return true;
    }
}
