using System.Numerics;
using System.Runtime.CompilerServices;

namespace Virtio.Rings;

/// <summary>Layout constants and the index arithmetic of the split ring (VIRTIO 1.x section 2.7).</summary>
public static class SplitRing
{
    /// <summary>The largest split queue size the spec allows.</summary>
    public const int MaxQueueSize = 32768;

    /// <summary>Bytes per descriptor (addr u64, len u32, flags u16, next u16).</summary>
    public const int DescriptorSize = 16;

    /// <summary>Bytes per used element (id u32, len u32).</summary>
    public const int UsedElementSize = 8;

    /// <summary>Alignment the spec requires of the descriptor table.</summary>
    public const int DescriptorTableAlignment = 16;

    /// <summary>Alignment the spec requires of the available ring.</summary>
    public const int AvailRingAlignment = 2;

    /// <summary>Alignment the spec requires of the used ring.</summary>
    public const int UsedRingAlignment = 4;

    /// <summary>Offset of <c>idx</c> in the available and in the used ring (after <c>flags</c>).</summary>
    public const int IdxOffset = 2;

    /// <summary>Offset of <c>ring[]</c> in the available and in the used ring (after <c>flags</c> and <c>idx</c>).</summary>
    public const int RingOffset = 4;

    /// <summary>VRING_AVAIL_F_NO_INTERRUPT: the driver asks for no used-buffer notifications (without EVENT_IDX).</summary>
    public const ushort AvailFlagNoInterrupt = 1;

    /// <summary>VRING_USED_F_NO_NOTIFY: the device asks for no available-buffer notifications (without EVENT_IDX).</summary>
    public const ushort UsedFlagNoNotify = 1;

    /// <summary>True for 1..32768 and a power of two.</summary>
    public static bool IsValidSize(int size) => size is >= 1 and <= MaxQueueSize && BitOperations.IsPow2(size);

    /// <summary>Bytes of the descriptor table.</summary>
    public static ulong DescriptorTableBytes(int size) => (ulong)size * DescriptorSize;

    /// <summary>Bytes of the available ring: flags, idx, ring[size] and, with EVENT_IDX, used_event.</summary>
    public static ulong AvailRingBytes(int size, bool eventIdx) => UsedEventOffset(size) + (eventIdx ? 2u : 0u);

    /// <summary>Bytes of the used ring: flags, idx, ring[size] and, with EVENT_IDX, avail_event.</summary>
    public static ulong UsedRingBytes(int size, bool eventIdx) => AvailEventOffset(size) + (eventIdx ? 2u : 0u);

    /// <summary>Offset of descriptor <paramref name="index"/> in a descriptor table (direct or indirect).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint DescriptorOffset(uint index) => index * DescriptorSize;

    /// <summary>Offset of <c>ring[slot]</c> in the available ring (<paramref name="slot"/> already masked to the size).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint AvailEntryOffset(uint slot) => RingOffset + (2 * slot);

    /// <summary>Offset of <c>ring[slot]</c> in the used ring (<paramref name="slot"/> already masked to the size).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint UsedElementOffset(uint slot) => RingOffset + (UsedElementSize * slot);

    /// <summary>Offset of <c>used_event</c> in the available ring: just after <c>ring[size]</c> (section 2.7.10).</summary>
    public static uint UsedEventOffset(int size) => AvailEntryOffset((uint)size);

    /// <summary>Offset of <c>avail_event</c> in the used ring: just after <c>ring[size]</c> (section 2.7.10).</summary>
    public static uint AvailEventOffset(int size) => UsedElementOffset((uint)size);

    /// <summary>
    /// <c>vring_need_event</c>: true when <paramref name="eventIdx"/> lies in [<paramref name="oldIdx"/>,
    /// <paramref name="newIdx"/>) in 16-bit wrap-around arithmetic, i.e. the other side asked to be notified when
    /// the index passes a value that this batch has just passed.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool NeedEvent(ushort eventIdx, ushort newIdx, ushort oldIdx) =>
        (ushort)(newIdx - eventIdx - 1) < (ushort)(newIdx - oldIdx);
}
