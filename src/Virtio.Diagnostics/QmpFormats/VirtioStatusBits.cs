namespace Virtio.Diagnostics;

/// <summary>The status byte decoded as QMP's <c>VirtioDeviceStatus</c>.</summary>
/// <param name="Statuses">The bits set, as "VIRTIO_CONFIG_S_NAME: description".</param>
public sealed record VirtioStatusBits(IReadOnlyList<string> Statuses);
