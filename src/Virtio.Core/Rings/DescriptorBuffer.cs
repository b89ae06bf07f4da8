namespace Virtio.Rings;

/// <summary>One buffer of a descriptor chain, mapped: its guest address, length, direction and host memory.</summary>
public readonly ref struct DescriptorBuffer
{
    internal DescriptorBuffer(ulong address, uint length, bool isWritable, Span<byte> span)
    {
        Address = address;
        Length = length;
        IsWritable = isWritable;
        Span = span;
    }

    /// <summary>The guest-physical address.</summary>
    public ulong Address { get; }

    /// <summary>The length in bytes (at least 1).</summary>
    public uint Length { get; }

    /// <summary>True for a device-writable buffer, false for a device-readable one.</summary>
    public bool IsWritable { get; }

    /// <summary>The bytes, in guest RAM.</summary>
    public Span<byte> Span { get; }
}
