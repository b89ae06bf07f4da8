using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Virtio.Devices.Net;

/// <summary>
/// <c>struct virtio_net_hdr_v1</c> (section 5.1.6): the 12 bytes in front of every frame, in both directions, with
/// VIRTIO_F_VERSION_1. Little-endian on the wire; on a little-endian host the struct's layout is the wire's, so reading
/// and writing it is one 12-byte copy.
/// </summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public readonly record struct VirtioNetHeader
{
    /// <summary>Bytes on the wire.</summary>
    public const int Size = 12;

    /// <summary>The flags.</summary>
    public NetHeaderFlags Flags { get; init; }

    /// <summary>The segmentation offload type.</summary>
    public NetGsoType GsoType { get; init; }

    /// <summary><c>hdr_len</c>: length of the headers to copy into each segment (a hint).</summary>
    public ushort HeaderLength { get; init; }

    /// <summary><c>gso_size</c>: the MSS of a segmentation-offload packet.</summary>
    public ushort GsoSize { get; init; }

    /// <summary><c>csum_start</c>: where checksumming starts (with NEEDS_CSUM).</summary>
    public ushort ChecksumStart { get; init; }

    /// <summary><c>csum_offset</c>: where, after <see cref="ChecksumStart"/>, the checksum goes.</summary>
    public ushort ChecksumOffset { get; init; }

    /// <summary><c>num_buffers</c>: rx buffers this frame spans (set by the device on rx; 0 on tx).</summary>
    public ushort BufferCount { get; init; }

    /// <summary>Parses the first <see cref="Size"/> bytes of <paramref name="source"/>.</summary>
    /// <exception cref="ArgumentException">Fewer than <see cref="Size"/> bytes.</exception>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static VirtioNetHeader Read(ReadOnlySpan<byte> source)
    {
        if (source.Length < Size)
        {
            ThrowTooShort(source.Length, nameof(source));
        }

        if (BitConverter.IsLittleEndian)
        {
            return MemoryMarshal.Read<VirtioNetHeader>(source);
        }

        return new VirtioNetHeader
        {
            Flags = (NetHeaderFlags)source[0],
            GsoType = (NetGsoType)source[1],
            HeaderLength = BinaryPrimitives.ReadUInt16LittleEndian(source[2..]),
            GsoSize = BinaryPrimitives.ReadUInt16LittleEndian(source[4..]),
            ChecksumStart = BinaryPrimitives.ReadUInt16LittleEndian(source[6..]),
            ChecksumOffset = BinaryPrimitives.ReadUInt16LittleEndian(source[8..]),
            BufferCount = BinaryPrimitives.ReadUInt16LittleEndian(source[10..]),
        };
    }

    /// <summary>Writes the header to the first <see cref="Size"/> bytes of <paramref name="destination"/>.</summary>
    /// <exception cref="ArgumentException">Fewer than <see cref="Size"/> bytes.</exception>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Write(Span<byte> destination)
    {
        if (destination.Length < Size)
        {
            ThrowTooShort(destination.Length, nameof(destination));
        }

        if (BitConverter.IsLittleEndian)
        {
            VirtioNetHeader self = this;
            MemoryMarshal.Write(destination, in self);
            return;
        }

        destination[0] = (byte)Flags;
        destination[1] = (byte)GsoType;
        BinaryPrimitives.WriteUInt16LittleEndian(destination[2..], HeaderLength);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[4..], GsoSize);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[6..], ChecksumStart);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[8..], ChecksumOffset);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[10..], BufferCount);
    }

    private static void ThrowTooShort(int length, string name) =>
        throw new ArgumentException($"a virtio_net_hdr_v1 is {Size} bytes, got {length}", name);
}
