namespace Virtio.Driver;

/// <summary>One scatter-gather element a driver adds: a guest-physical buffer (Linux's <c>scatterlist</c> entry).</summary>
/// <param name="Address">Guest-physical address.</param>
/// <param name="Length">Length in bytes.</param>
public readonly record struct GuestSegment(ulong Address, uint Length);
