using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Virtio.Devices.Block;

/// <summary>
/// <c>struct virtio_blk_outhdr</c> (section 5.2.6): the 16 bytes at the start of every virtio-blk request, read by the
/// device and written by the driver. Little-endian on the wire; on a little-endian host the struct's layout is the
/// wire's, so reading and writing it is one 16-byte copy.
/// </summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public readonly record struct VirtioBlkRequestHeader
{
    /// <summary>Bytes on the wire.</summary>
    public const int Size = 16;

    /// <summary>Creates a header for a request of <paramref name="type"/> at <paramref name="sector"/>.</summary>
    public VirtioBlkRequestHeader(VirtioBlkRequestType type, ulong sector)
    {
        Type = type;
        Sector = sector;
    }

    /// <summary><c>type</c>: what the request does.</summary>
    public VirtioBlkRequestType Type { get; init; }

    /// <summary><c>reserved</c> (legacy <c>ioprio</c>): ignored by the device.</summary>
    public uint Reserved { get; init; }

    /// <summary><c>sector</c>: the first 512-byte sector of a read or write (0 for the other types).</summary>
    public ulong Sector { get; init; }

    /// <summary>Parses the first <see cref="Size"/> bytes of <paramref name="source"/>.</summary>
    /// <exception cref="ArgumentException">Fewer than <see cref="Size"/> bytes.</exception>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static VirtioBlkRequestHeader Read(ReadOnlySpan<byte> source)
    {
        if (source.Length < Size)
        {
            ThrowTooShort(source.Length, nameof(source));
        }

        if (BitConverter.IsLittleEndian)
        {
            return MemoryMarshal.Read<VirtioBlkRequestHeader>(source);
        }

        return new VirtioBlkRequestHeader
        {
            Type = (VirtioBlkRequestType)BinaryPrimitives.ReadUInt32LittleEndian(source),
            Reserved = BinaryPrimitives.ReadUInt32LittleEndian(source[4..]),
            Sector = BinaryPrimitives.ReadUInt64LittleEndian(source[8..]),
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
            VirtioBlkRequestHeader self = this;
            MemoryMarshal.Write(destination, in self);
            return;
        }

        BinaryPrimitives.WriteUInt32LittleEndian(destination, (uint)Type);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[4..], Reserved);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[8..], Sector);
    }

    /// <summary>The header as a new 16-byte array (for building requests outside the hot path).</summary>
    public byte[] ToArray()
    {
        byte[] bytes = new byte[Size];
        Write(bytes);
        return bytes;
    }

    private static void ThrowTooShort(int length, string name) =>
        throw new ArgumentException($"a virtio_blk_outhdr is {Size} bytes, got {length}", name);
}
