namespace Virtio.Rings;

/// <summary>
/// Where the three areas of one split ring live in guest memory. <see cref="Create"/> places them the legacy way
/// (descriptor table, then the available ring, then the used ring aligned to <c>align</c>), which is what QEMU reports
/// as <c>vring-align</c> 4096; a modern driver may place the three areas anywhere.
/// </summary>
/// <param name="DescriptorTable">Guest-physical address of the descriptor table.</param>
/// <param name="AvailRing">Guest-physical address of the available (driver) ring.</param>
/// <param name="UsedRing">Guest-physical address of the used (device) ring.</param>
/// <param name="Size">The queue size.</param>
/// <param name="EndAddress">One past the last byte of the used ring (with EVENT_IDX room).</param>
public readonly record struct SplitRingLayout(ulong DescriptorTable, ulong AvailRing, ulong UsedRing, int Size, ulong EndAddress)
{
    /// <summary>The used-ring alignment QEMU reports as <c>vring-align</c>.</summary>
    public const int LegacyAlignment = 4096;

    /// <summary>Lays out a ring of <paramref name="size"/> entries at <paramref name="baseAddress"/> (16-byte aligned).</summary>
    public static SplitRingLayout Create(ulong baseAddress, int size, int align = LegacyAlignment)
    {
        if (!SplitRing.IsValidSize(size))
        {
            throw new ArgumentOutOfRangeException(nameof(size), size, "queue size must be a power of two from 1 to 32768");
        }

        if (align < SplitRing.UsedRingAlignment || (align & (align - 1)) != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(align), align, "alignment must be a power of two of at least 4");
        }

        if (baseAddress % SplitRing.DescriptorTableAlignment != 0)
        {
            throw new ArgumentException("the descriptor table must be 16-byte aligned", nameof(baseAddress));
        }

        ulong avail = baseAddress + SplitRing.DescriptorTableBytes(size);
        ulong usedUnaligned = avail + SplitRing.AvailRingBytes(size, eventIdx: true);
        ulong used = (usedUnaligned + (ulong)align - 1) & ~((ulong)align - 1);
        return new SplitRingLayout(baseAddress, avail, used, size, used + SplitRing.UsedRingBytes(size, eventIdx: true));
    }

    /// <summary>Address of the available ring's <c>idx</c>.</summary>
    public ulong AvailIdxAddress => AvailRing + SplitRing.IdxOffset;

    /// <summary>Address of the used ring's <c>idx</c>.</summary>
    public ulong UsedIdxAddress => UsedRing + SplitRing.IdxOffset;

    /// <summary>Address of <c>used_event</c> (the driver's, at the end of the available ring; with EVENT_IDX).</summary>
    public ulong UsedEventAddress => AvailRing + SplitRing.UsedEventOffset(Size);

    /// <summary>Address of <c>avail_event</c> (the device's, at the end of the used ring; with EVENT_IDX).</summary>
    public ulong AvailEventAddress => UsedRing + SplitRing.AvailEventOffset(Size);

    /// <summary>Address of descriptor <paramref name="index"/> of the descriptor table.</summary>
    public ulong DescriptorAddress(int index) => DescriptorTable + SplitRing.DescriptorOffset((uint)index);

    /// <summary>Address of the available ring entry for free-running index <paramref name="position"/>.</summary>
    public ulong AvailEntryAddress(ushort position) => AvailRing + SplitRing.AvailEntryOffset((uint)(position & (Size - 1)));

    /// <summary>Address of the used ring element for free-running index <paramref name="position"/>.</summary>
    public ulong UsedElementAddress(ushort position) => UsedRing + SplitRing.UsedElementOffset((uint)(position & (Size - 1)));
}
