using System.Text.Json.Serialization;

namespace Virtio.Diagnostics.Qmp;

/// <summary>One entry of <c>x-query-virtio</c>: a realized virtio device.</summary>
/// <param name="Name">QEMU's device name (<c>virtio-blk</c>, <c>virtio-net</c>...).</param>
/// <param name="Path">Its QOM path, such as <c>/machine/peripheral/vblk0/virtio-backend</c>.</param>
public sealed record VirtioDeviceInfo(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("path")] string Path);
