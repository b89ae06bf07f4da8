namespace Virtio.Diagnostics.Qmp;

/// <summary>An <c>x-query-virtio-queue-element</c> reply for one avail-ring position.</summary>
/// <param name="Position">The avail-ring position asked for (free-running; QEMU takes it modulo the queue size).</param>
/// <param name="Head">The head descriptor the slot names (the reply's <c>index</c>).</param>
/// <param name="Descriptors">The chain's descriptors as QEMU 7.2 lists them: last first.</param>
public sealed record QemuQueueElement(ushort Position, uint Head, IReadOnlyList<VringDescriptor> Descriptors);
