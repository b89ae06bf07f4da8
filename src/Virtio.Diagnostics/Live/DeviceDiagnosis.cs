using Virtio.Diagnostics.Qmp;

namespace Virtio.Diagnostics.Live;

/// <summary>The diagnosis of one virtio device of a running QEMU.</summary>
/// <param name="Path">The QOM path.</param>
/// <param name="Name">QEMU's device name.</param>
/// <param name="Status"><c>x-query-virtio-status</c>.</param>
/// <param name="Queues">Each queue diagnosed (empty when <see cref="Refusal"/> is set).</param>
public sealed record DeviceDiagnosis(string Path, string Name, QemuVirtioStatus Status, IReadOnlyList<QueueDiagnosis> Queues)
{
    /// <summary>Why the device's rings were not read (VIRTIO_F_ACCESS_PLATFORM: the ring addresses are IOVAs); null when they were.</summary>
    public string? Refusal { get; init; }
}
