using Virtio.Memory;

namespace Virtio.Workloads.Stress;

/// <summary>
/// The guest RAM of a stress run, sized once for the largest ring and reused by every seed: the rings at
/// <see cref="RingBase"/>, the driver's indirect tables at <see cref="IndirectBase"/>, then one data slot per ring
/// entry (a buffer's segments at fixed offsets in its slot, so no two buffers in flight share a byte).
/// </summary>
internal sealed class StressGuestLayout : IDisposable
{
    public const ulong RingBase = 0x1000;
    public const ulong IndirectBase = 0x10_0000; // past the rings of a 32768-entry queue (about 0xD_0000 bytes)
    public const ulong SlotBytes = StressBuffer.MaxSegments * StressBuffer.MaxSegmentBytes;

    public StressGuestLayout(int maxRingSize)
    {
        DataBase = IndirectBase + ((ulong)maxRingSize * StressBuffer.MaxSegments * Rings.SplitRing.DescriptorSize);
        Memory = GuestMemory.Create(DataBase + ((ulong)maxRingSize * SlotBytes));
    }

    /// <summary>The start of the data slots (after the indirect area of the largest ring).</summary>
    public ulong DataBase { get; }

    public GuestMemory Memory { get; }

    public ulong SlotAddress(int slot) => DataBase + ((ulong)slot * SlotBytes);

    public void Dispose() => Memory.Dispose();
}
