using System.Buffers.Binary;

namespace Virtio.CrashHost;

/// <summary>
/// Self-describing sector contents for crash tests: every written sector carries its own sector number, the
/// generation (a unique id of the write request) and a checksum, so a torn, misplaced or stray sector is recognisable
/// in an image after a crash.
/// </summary>
internal static class SectorStamp
{
    public const int SectorSize = 512;

    /// <summary>What <see cref="Parse"/> returns for a sector of zeroes.</summary>
    public const long Zero = 0;

    /// <summary>What <see cref="Parse"/> returns for bytes that are neither zeroes nor a valid stamp of this sector.</summary>
    public const long Garbage = -1;

    private const ulong Magic = 0x3130_4853_4152_4356; // "VCRASH01"

    /// <summary>Fills <paramref name="sector"/> (512 bytes) with the stamp of (<paramref name="number"/>, <paramref name="generation"/>).</summary>
    public static void Write(Span<byte> sector, ulong number, long generation)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(sector, Magic);
        BinaryPrimitives.WriteUInt64LittleEndian(sector[8..], number);
        BinaryPrimitives.WriteInt64LittleEndian(sector[16..], generation);
        ulong x = (number * 0x9E37_79B9_7F4A_7C15) ^ (ulong)generation ^ 0xD1B5_4A32_D192_ED03;
        for (int i = 24; i < SectorSize - 8; i += 8)
        {
            // xorshift64: a fill that differs in every sector and generation.
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            BinaryPrimitives.WriteUInt64LittleEndian(sector[i..], x);
        }

        BinaryPrimitives.WriteUInt64LittleEndian(sector[(SectorSize - 8)..], Checksum(sector[..(SectorSize - 8)]));
    }

    /// <summary>The generation stamped in <paramref name="sector"/>, <see cref="Zero"/>, or <see cref="Garbage"/>.</summary>
    public static long Parse(ReadOnlySpan<byte> sector, ulong number)
    {
        if (!sector.ContainsAnyExcept((byte)0))
        {
            return Zero;
        }

        long generation = BinaryPrimitives.ReadInt64LittleEndian(sector[16..]);
        if (BinaryPrimitives.ReadUInt64LittleEndian(sector) != Magic || BinaryPrimitives.ReadUInt64LittleEndian(sector[8..]) != number
            || generation <= 0 || BinaryPrimitives.ReadUInt64LittleEndian(sector[(SectorSize - 8)..]) != Checksum(sector[..(SectorSize - 8)]))
        {
            return Garbage;
        }

        // The checksum covers the fill, but a fill copied from another stamp would pass it: recompute it.
        Span<byte> expected = stackalloc byte[SectorSize];
        Write(expected, number, generation);
        return expected.SequenceEqual(sector) ? generation : Garbage;
    }

    // FNV-1a, 64-bit.
    private static ulong Checksum(ReadOnlySpan<byte> bytes)
    {
        ulong h = 0xCBF2_9CE4_8422_2325;
        foreach (byte b in bytes)
        {
            h = (h ^ b) * 0x100_0000_01B3;
        }

        return h;
    }
}
