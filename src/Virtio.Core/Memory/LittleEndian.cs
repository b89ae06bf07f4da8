using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace Virtio.Memory;

/// <summary>VIRTIO 1.x fields are little-endian; on little-endian hosts these compile to nothing.</summary>
internal static unsafe class LittleEndian
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort FromLe(ushort v) => BitConverter.IsLittleEndian ? v : BinaryPrimitives.ReverseEndianness(v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort ToLe(ushort v) => FromLe(v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint FromLe(uint v) => BitConverter.IsLittleEndian ? v : BinaryPrimitives.ReverseEndianness(v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong FromLe(ulong v) => BitConverter.IsLittleEndian ? v : BinaryPrimitives.ReverseEndianness(v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort Read16(byte* p) => FromLe(Unsafe.ReadUnaligned<ushort>(p));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint Read32(byte* p) => FromLe(Unsafe.ReadUnaligned<uint>(p));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Read64(byte* p) => FromLe(Unsafe.ReadUnaligned<ulong>(p));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Write16(byte* p, ushort v) => Unsafe.WriteUnaligned(p, FromLe(v));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Write32(byte* p, uint v) => Unsafe.WriteUnaligned(p, FromLe(v));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Write64(byte* p, ulong v) => Unsafe.WriteUnaligned(p, FromLe(v));

    /// <summary>Acquire load of an aligned ring index.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort ReadIndex(byte* p) => FromLe(Volatile.Read(ref *(ushort*)p));

    /// <summary>Release store of an aligned ring index.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void WriteIndex(byte* p, ushort v) => Volatile.Write(ref *(ushort*)p, FromLe(v));
}
