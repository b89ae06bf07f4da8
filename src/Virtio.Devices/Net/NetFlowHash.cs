using System.Buffers.Binary;

namespace Virtio.Devices.Net;

/// <summary>
/// Which queue pair a received frame goes to, for backends that do not choose one (stream): a hash of its flow, so
/// that one flow stays on one pair and in order, as a multiqueue NIC's receive-side scaling keeps it (without RSS
/// negotiated the hash is the device's own choice, section 5.1.6.5.6). IPv4 frames hash their addresses and, for TCP
/// and UDP, their ports; any other frame its two MAC addresses. FNV-1a, so the result is the same in every process.
/// </summary>
public static class NetFlowHash
{
    private const int EthernetHeader = 14;

    /// <summary>The flow hash of <paramref name="frame"/>, non-negative; the device takes it modulo its active pairs.</summary>
    public static int Of(ReadOnlySpan<byte> frame)
    {
        if (frame.Length >= EthernetHeader + 20 && BinaryPrimitives.ReadUInt16BigEndian(frame[12..]) == 0x0800)
        {
            ReadOnlySpan<byte> ip = frame[EthernetHeader..];
            int headerLength = (ip[0] & 0x0f) * 4;
            byte protocol = ip[9];
            uint hash = Fnv(ip.Slice(12, 8)); // source and destination addresses
            if (protocol is 6 or 17 && headerLength >= 20 && ip.Length >= headerLength + 4)
            {
                hash = Fnv(ip.Slice(headerLength, 4), hash); // source and destination ports
            }

            return (int)(hash & int.MaxValue);
        }

        return (int)(Fnv(frame[..Math.Min(12, frame.Length)]) & int.MaxValue);
    }

    private static uint Fnv(ReadOnlySpan<byte> bytes, uint hash = 2166136261)
    {
        foreach (byte b in bytes)
        {
            hash = (hash ^ b) * 16777619;
        }

        return hash;
    }
}
