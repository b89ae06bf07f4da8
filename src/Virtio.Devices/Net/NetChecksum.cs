using System.Buffers.Binary;

namespace Virtio.Devices.Net;

/// <summary>
/// Completes a partial checksum (VIRTIO_NET_HDR_F_NEEDS_CSUM) in software, as Linux's <c>skb_checksum_help</c> does:
/// the Internet checksum (RFC 1071) of everything from <c>csum_start</c>, folded and stored at
/// <c>csum_start + csum_offset</c>, where the sender left the pseudo-header sum.
/// </summary>
internal static class NetChecksum
{
    /// <returns>False when the checksum field does not lie inside the frame.</returns>
    public static bool TryComplete(Span<byte> frame, int start, int offset)
    {
        if (!IsInside(frame.Length, start, offset))
        {
            return false;
        }

        ReadOnlySpan<byte> data = frame[start..];
        ulong sum = 0;
        int i = 0;
        for (; i + 1 < data.Length; i += 2)
        {
            sum += BinaryPrimitives.ReadUInt16BigEndian(data[i..]);
        }

        if (i < data.Length)
        {
            sum += (ulong)data[i] << 8;
        }

        while ((sum >> 16) != 0)
        {
            sum = (sum & 0xffff) + (sum >> 16);
        }

        BinaryPrimitives.WriteUInt16BigEndian(frame[(start + offset)..], (ushort)~sum);
        return true;
    }

    /// <summary>Whether a 2-byte checksum at <paramref name="start"/> + <paramref name="offset"/> fits a frame of <paramref name="length"/> bytes.</summary>
    public static bool IsInside(int length, int start, int offset) => (long)start + offset + 2 <= length;
}
