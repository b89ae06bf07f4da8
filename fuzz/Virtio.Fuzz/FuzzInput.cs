using System.Buffers.Binary;

namespace Virtio.Fuzz;

/// <summary>Reads the fuzzer's bytes as little-endian fields; past the end every field reads as zero.</summary>
internal ref struct FuzzInput(ReadOnlySpan<byte> data)
{
    private readonly ReadOnlySpan<byte> _data = data;
    private int _at;

    public readonly bool AtEnd => _at >= _data.Length;

    public readonly int Remaining => Math.Max(0, _data.Length - _at);

    public byte U8() => _at < _data.Length ? _data[_at++] : (byte)0;

    public ushort U16() => (ushort)(U8() | (U8() << 8));

    public uint U32() => U16() | ((uint)U16() << 16);

    public ulong U64() => U32() | ((ulong)U32() << 32);

    public ReadOnlySpan<byte> Bytes(int count)
    {
        int n = Math.Min(count, Remaining);
        ReadOnlySpan<byte> s = _data.Slice(_at, n);
        _at += n;
        return s;
    }

    public ReadOnlySpan<byte> Rest() => Bytes(Remaining);

    /// <summary>Writes a patch (offset u16, length u8, bytes) into guest RAM, clipped to it: the guest writing its own memory.</summary>
    public void Patch(Span<byte> ram)
    {
        int offset = U16();
        ReadOnlySpan<byte> bytes = Bytes(U8());
        if (offset < ram.Length)
        {
            bytes[..Math.Min(bytes.Length, ram.Length - offset)].CopyTo(ram[offset..]);
        }
    }

    public static void WritePatch(List<byte> output, int offset, ReadOnlySpan<byte> bytes)
    {
        Span<byte> h = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16LittleEndian(h, (ushort)offset);
        output.AddRange(h);
        output.Add((byte)bytes.Length);
        output.AddRange(bytes);
    }
}
