using System.Numerics;
using System.Runtime.CompilerServices;

namespace Virtio.Workloads.Stress;

/// <summary>
/// The shape and contents of buffer number <c>serial</c> of one seed, a pure function of (seed key, serial), so that
/// the driver building it and the device receiving it compute the same thing without sharing anything but guest RAM:
/// how many segments, how many of them device-readable, each segment's length, the bytes the driver puts in the
/// readable part, and how many bytes (and which) the device writes into the writable part.
/// </summary>
internal readonly struct StressBuffer
{
    /// <summary>The longest segment, in bytes.</summary>
    public const int MaxSegmentBytes = 64;

    /// <summary>The most segments in one buffer (the driver's indirect tables are this large).</summary>
    public const int MaxSegments = 16;

    private const ulong WriteSalt = 0xD1B5_4A32_D192_ED03;

    private readonly ulong _key;

    public StressBuffer(ulong seedKey, long serial, int maxSegments)
    {
        _key = StressRandom.Mix(seedKey, (ulong)serial);
        ulong h = StressRandom.Mix(_key);
        Segments = 1 + (int)(h % (ulong)maxSegments);
        Readable = (int)((h >> 20) % (ulong)(Segments + 1));
        uint readableBytes = 0, writableBytes = 0;
        for (int j = 0; j < Segments; j++)
        {
            uint length = SegmentLength(j);
            if (j < Readable)
            {
                readableBytes += length;
            }
            else
            {
                writableBytes += length;
            }
        }

        ReadableBytes = readableBytes;
        WritableBytes = writableBytes;

        // Sometimes all of the writable part, sometimes none, mostly some: the used length must be exactly this.
        ulong w = StressRandom.Mix(_key ^ WriteSalt);
        Written = (w & 3) switch
        {
            0 => writableBytes,
            1 => 0,
            _ => (uint)((w >> 8) % (writableBytes + 1)),
        };
    }

    /// <summary>Descriptors (buffers) in the chain.</summary>
    public int Segments { get; }

    /// <summary>The first <see cref="Readable"/> segments are device-readable, the rest device-writable.</summary>
    public int Readable { get; }

    /// <summary>Total bytes of the readable segments.</summary>
    public uint ReadableBytes { get; }

    /// <summary>Total bytes of the writable segments.</summary>
    public uint WritableBytes { get; }

    /// <summary>Bytes the device writes from the start of the writable part: the used length.</summary>
    public uint Written { get; }

    /// <summary>The length of segment <paramref name="index"/>, 1 to <see cref="MaxSegmentBytes"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public uint SegmentLength(int index) => 1 + (uint)(StressRandom.Mix(_key + (ulong)index + 1) % MaxSegmentBytes);

    /// <summary>Writes the pattern of <paramref name="key"/> from <paramref name="offset"/> on.</summary>
    public static void Fill(Span<byte> span, ulong key, uint offset)
    {
        for (int i = 0; i < span.Length; i++)
        {
            span[i] = PatternByte(key, offset + (uint)i);
        }
    }

    /// <summary>The index of the first byte that differs from the pattern, or -1.</summary>
    public static int Check(ReadOnlySpan<byte> span, ulong key, uint offset)
    {
        for (int i = 0; i < span.Length; i++)
        {
            if (span[i] != PatternByte(key, offset + (uint)i))
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>The key of the readable pattern.</summary>
    public ulong ReadKey => _key;

    /// <summary>The key of the written pattern.</summary>
    public ulong WriteKey => _key ^ WriteSalt;

    // Depends on the buffer (key) and on the position, so a byte from another buffer or a shifted copy differs.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static byte PatternByte(ulong key, uint offset) => (byte)(BitOperations.RotateRight(key, (int)(offset & 63)) ^ offset ^ (offset >> 8));
}
