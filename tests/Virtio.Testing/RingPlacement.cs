namespace Virtio.Testing;

/// <summary>Where a <see cref="RingHarness"/> puts its ring, indirect tables and data buffers, and how much RAM it has.</summary>
/// <param name="RingBase">Guest-physical address of the descriptor table (the avail and used rings follow it).</param>
/// <param name="IndirectBase">Where the driver builds indirect tables.</param>
/// <param name="DataBase">Where <see cref="RingHarness.Buffer"/> starts allocating.</param>
/// <param name="MemorySize">Bytes of guest RAM.</param>
public sealed record RingPlacement(ulong RingBase, ulong IndirectBase, ulong DataBase, ulong MemorySize)
{
    /// <summary>64 MiB with room for large buffers: what the ring and device tests use.</summary>
    public static RingPlacement Default { get; } = new(0x1_0000, 0x20_0000, 0x100_0000, 0x400_0000);

    /// <summary>4 MiB with the ring at 0x1000: the diagnostics tests dump this RAM, so it stays small.</summary>
    public static RingPlacement Small { get; } = new(0x1000, 0x8_0000, 0x10_0000, 0x40_0000);
}
