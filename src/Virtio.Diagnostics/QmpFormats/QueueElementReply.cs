namespace Virtio.Diagnostics;

/// <summary>The JSON shape of <c>VirtioQueueElement</c> (descriptors already in QEMU's reverse order).</summary>
internal sealed record QueueElementReply(string Name, ushort Index, IReadOnlyList<VringDescriptor> Descs, VringAvailReply Avail, VringUsedReply Used);

/// <summary>QEMU's <c>VirtioRingAvail</c>.</summary>
internal sealed record VringAvailReply(ushort Flags, ushort Idx, ushort Ring);

/// <summary>QEMU's <c>VirtioRingUsed</c>.</summary>
internal sealed record VringUsedReply(ushort Flags, ushort Idx);
