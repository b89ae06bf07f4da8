using System.Buffers.Binary;

namespace Virtio.Devices.Net;

/// <summary>
/// The Internet checksum (RFC 1071), and the completion of a partial checksum (VIRTIO_NET_HDR_F_NEEDS_CSUM) in
/// software, as Linux's <c>skb_checksum_help</c> does: the checksum of everything from <c>csum_start</c>, stored at
/// <c>csum_start + csum_offset</c>, where the sender left the pseudo-header sum.
/// </summary>
public static class NetChecksum
{
    /// <summary>
    /// The folded 16-bit ones'-complement sum of <paramref name="data"/> (big-endian words, an odd last byte padded with
    /// zero), starting from <paramref name="initial"/> (for example a pseudo-header sum).
    /// </summary>
    public static ushort Sum(ReadOnlySpan<byte> data, ushort initial = 0)
    {
        ulong sum = initial;
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

        return (ushort)sum;
    }

    /// <summary>The Internet checksum of <paramref name="data"/>: the complement of its <see cref="Sum"/>. Data that carries a right checksum gives 0.</summary>
    public static ushort Compute(ReadOnlySpan<byte> data) => (ushort)~Sum(data);

    /// <returns>False when the checksum field does not lie inside the frame.</returns>
    internal static bool TryComplete(Span<byte> frame, int start, int offset)
    {
        if (!IsInside(frame.Length, start, offset))
        {
            return false;
        }

        BinaryPrimitives.WriteUInt16BigEndian(frame[(start + offset)..], Compute(frame[start..]));
        return true;
    }

    /// <summary>Whether a 2-byte checksum at <paramref name="start"/> + <paramref name="offset"/> fits a frame of <paramref name="length"/> bytes.</summary>
    internal static bool IsInside(int length, int start, int offset) => (long)start + offset + 2 <= length;
}
