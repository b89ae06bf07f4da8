using System.Buffers.Binary;
using Virtio.Devices.Net;

namespace Virtio.Devices.Tests.Net;

public sealed class NetFlowHashTests
{
    [Fact]
    public void A_flow_always_hashes_alike_and_different_flows_reach_both_of_two_queue_pairs()
    {
        var pairs = new HashSet<int>();
        for (ushort port = 1000; port < 1016; port++)
        {
            int hash = NetFlowHash.Of(Udp(port, payload: 1));
            Assert.True(hash >= 0);
            Assert.Equal(hash, NetFlowHash.Of(Udp(port, payload: 2))); // the same flow, another frame
            pairs.Add(hash % 2);
        }

        Assert.Equal(2, pairs.Count);
    }

    [Fact]
    public void A_frame_too_short_for_its_headers_hashes_its_MAC_addresses()
    {
        byte[] frame = Udp(1000, payload: 1);
        Assert.Equal(NetFlowHash.Of(frame.AsSpan(0, 20)), NetFlowHash.Of(frame.AsSpan(0, 14)));
    }

    /// <summary>An IPv4 UDP frame from 10.0.0.1:<paramref name="port"/> to 10.0.0.2:9.</summary>
    private static byte[] Udp(ushort port, byte payload)
    {
        byte[] frame = new byte[14 + 20 + 8 + 4];
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(12), 0x0800);
        frame[14] = 0x45;
        frame[14 + 9] = 17;
        frame[14 + 12] = 10;
        frame[14 + 15] = 1;
        frame[14 + 16] = 10;
        frame[14 + 19] = 2;
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(34), port);
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(36), 9);
        frame[^1] = payload;
        return frame;
    }
}
