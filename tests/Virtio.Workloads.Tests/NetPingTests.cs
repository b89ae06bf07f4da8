using System.Buffers.Binary;
using System.Net;
using System.Net.NetworkInformation;
using Virtio.Workloads.Ping;
using Virtio.Devices.Net;

namespace Virtio.Workloads.Tests;

/// <summary>
/// <c>virtio ping</c>'s logic against a scripted peer (the real peer, a QEMU guest, is <c>tests/qemu/ping-guest.sh</c>):
/// it resolves with ARP, accepts only a well-formed echo reply to its own request, and says so when none comes.
/// </summary>
public class NetPingTests
{
    private static readonly IPAddress Self = IPAddress.Parse("10.0.2.2");
    private static readonly IPAddress Peer = IPAddress.Parse("10.0.2.15");
    private static readonly PhysicalAddress PeerMac = PhysicalAddress.Parse("52-54-00-12-34-57");

    [Theory]
    [InlineData("10.0.2.15", null)]
    [InlineData("10", "not an IPv4 address (four numbers 0 to 255, like 10.0.2.2)")]
    [InlineData("10.2", "not an IPv4 address (four numbers 0 to 255, like 10.0.2.2)")]
    [InlineData("10.0.2.256", "not an IPv4 address (four numbers 0 to 255, like 10.0.2.2)")]
    [InlineData("::1", "an IPv6 address; ping speaks ARP and ICMP over IPv4 (like 10.0.2.2)")]
    public void Ping_takes_only_dotted_quad_ipv4_addresses(string text, string? reason)
    {
        Assert.Equal(reason, NetPing.TryParseIPv4(text, "10.0.2.2", out IPAddress? address));
        Assert.Equal(reason is null ? IPAddress.Parse(text) : null, address);
    }

    [Fact]
    public void The_internet_checksum_matches_rfc_1071s_example_and_verifies_to_zero()
    {
        byte[] data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        Assert.Equal(0x220d, NetChecksum.Compute(data)); // RFC 1071 section 3: the folded sum is 0xddf2, its complement 0x220d
        byte[] odd = [0x45, 0x00, 0x01];
        ushort c = NetChecksum.Compute(odd);
        Assert.Equal(0, NetChecksum.Compute([.. odd, 0x00, (byte)(c >> 8), (byte)c]));
    }

    [Fact]
    public void A_peer_that_answers_is_resolved_and_every_echo_comes_back()
    {
        var peer = new ScriptedPeer();
        using var ping = new NetPing(peer, Self);
        PhysicalAddress? mac = ping.Resolve(Peer, TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(1));
        Assert.Equal(PeerMac, mac);
        for (ushort seq = 1; seq <= 3; seq++)
        {
            Assert.NotNull(ping.Echo(Peer, mac!, seq, TimeSpan.FromSeconds(30)));
        }

        Assert.Equal(4, ping.Device.Statistics.RxPackets); // the ARP reply and three echo replies crossed the device
        Assert.Equal(0, ping.Device.Statistics.Dropped);
    }

    [Theory]
    [InlineData(Fault.BadIcmpChecksum)]
    [InlineData(Fault.BadIpChecksum)]
    [InlineData(Fault.WrongSequence)]
    [InlineData(Fault.ChangedPayload)]
    [InlineData(Fault.Silent)]
    public void A_malformed_or_missing_reply_is_not_counted(Fault fault)
    {
        var peer = new ScriptedPeer { Fault = fault };
        using var ping = new NetPing(peer, Self);
        Assert.Equal(PeerMac, ping.Resolve(Peer, TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(1)));
        Assert.Null(ping.Echo(Peer, PeerMac, 1, TimeSpan.FromMilliseconds(300)));
    }

    [Fact]
    public void Nobody_at_the_address_gives_no_mac_after_the_timeout()
    {
        var peer = new ScriptedPeer();
        using var ping = new NetPing(peer, Self);
        Assert.Null(ping.Resolve(IPAddress.Parse("10.0.2.99"), TimeSpan.FromMilliseconds(300), TimeSpan.FromMilliseconds(100)));
        Assert.True(peer.ArpRequests >= 2, "the request was not retried");
    }

    public enum Fault
    {
        None,
        BadIcmpChecksum,
        BadIpChecksum,
        WrongSequence,
        ChangedPayload,
        Silent,
    }

    /// <summary>A wire with a host behind it that answers ARP for <see cref="Peer"/> and echo requests, optionally wrongly.</summary>
    private sealed class ScriptedPeer : INetBackend
    {
        private INetFrameSink? _sink;

        public Fault Fault { get; init; }

        public int ArpRequests { get; private set; }

        public bool CarriesHeader => false;

        public void Attach(INetFrameSink sink) => _sink = sink;

        public NetTransmitResult Transmit(int queuePair, in VirtioNetHeader header, ReadOnlySpan<byte> frame)
        {
            byte[] f = frame.ToArray();
            ushort type = BinaryPrimitives.ReadUInt16BigEndian(f.AsSpan(12));
            if (type == 0x0806)
            {
                ArpRequests++;
                if (f.AsSpan(38, 4).SequenceEqual(Peer.GetAddressBytes()))
                {
                    _sink!.Receive(queuePair, default, ArpReply(f));
                }
            }
            else if (type == 0x0800 && f[23] == 1 && f[34] == 8 && Fault != Fault.Silent)
            {
                _sink!.Receive(queuePair, default, EchoReply(f));
            }

            return NetTransmitResult.Sent;
        }

        public void ReceiveReady()
        {
        }

        private static byte[] ArpReply(byte[] request)
        {
            byte[] r = (byte[])request.Clone();
            request.AsSpan(6, 6).CopyTo(r); // to the asker
            PeerMac.GetAddressBytes().CopyTo(r, 6);
            BinaryPrimitives.WriteUInt16BigEndian(r.AsSpan(20), 2);
            PeerMac.GetAddressBytes().CopyTo(r, 22);
            request.AsSpan(38, 4).CopyTo(r.AsSpan(28)); // sender: the asked-for address
            request.AsSpan(22, 10).CopyTo(r.AsSpan(32)); // target: the asker's MAC and address
            return r;
        }

        private byte[] EchoReply(byte[] request)
        {
            byte[] r = (byte[])request.Clone();
            request.AsSpan(6, 6).CopyTo(r);
            request.AsSpan(0, 6).CopyTo(r.AsSpan(6));
            request.AsSpan(26, 4).CopyTo(r.AsSpan(30)); // addresses swapped
            request.AsSpan(30, 4).CopyTo(r.AsSpan(26));
            r[34] = 0; // echo reply
            if (Fault == Fault.WrongSequence)
            {
                r[41]++;
            }

            if (Fault == Fault.ChangedPayload)
            {
                r[^1] ^= 0xFF;
            }

            Checksum(r.AsSpan(14, 20), 10);
            Checksum(r.AsSpan(34), 2);
            if (Fault == Fault.BadIcmpChecksum)
            {
                r[36] ^= 0x01;
            }

            if (Fault == Fault.BadIpChecksum)
            {
                r[24] ^= 0x01;
            }

            return r;
        }

        private static void Checksum(Span<byte> data, int at)
        {
            data[at] = 0;
            data[at + 1] = 0;
            BinaryPrimitives.WriteUInt16BigEndian(data[at..], NetChecksum.Compute(data));
        }
    }
}
