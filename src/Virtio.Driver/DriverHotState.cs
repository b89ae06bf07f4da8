using System.Runtime.InteropServices;
using Virtio.Rings;

namespace Virtio.Driver;

/// <summary>
/// The fields the driver writes for every buffer, with a cache line of padding on each side, so that the device's
/// thread never shares a line with them through whatever the allocator put next to the queue. Not nested in the
/// generic <see cref="DriverQueue{TToken}"/>: a type nested in a generic one is generic, and cannot have an explicit layout.
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = (2 * SplitRing.CacheLineBytes) + 24)]
internal struct DriverHotState
{
    [FieldOffset(SplitRing.CacheLineBytes)]
    public ushort FreeHead;

    [FieldOffset(SplitRing.CacheLineBytes + 2)]
    public ushort AvailIdxShadow;

    [FieldOffset(SplitRing.CacheLineBytes + 4)]
    public ushort LastUsedIdx;

    [FieldOffset(SplitRing.CacheLineBytes + 8)]
    public int NumFree;

    [FieldOffset(SplitRing.CacheLineBytes + 12)]
    public int NumAdded;

    [FieldOffset(SplitRing.CacheLineBytes + 16)]
    public int Placed; // buffers written to the avail ring and not yet published

    [FieldOffset(SplitRing.CacheLineBytes + 20)]
    public int InFlight;
}
