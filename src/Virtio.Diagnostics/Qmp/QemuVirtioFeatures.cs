using System.Text.Json.Serialization;

namespace Virtio.Diagnostics.Qmp;

/// <summary>QEMU's <c>VirtioDeviceFeatures</c> as received: <c>dev-features</c> is optional in the schema.</summary>
public sealed record QemuVirtioFeatures
{
    /// <summary><c>transports</c>: transport and ring features, each "NAME: description".</summary>
    [JsonPropertyName("transports")]
    public required IReadOnlyList<string> Transports { get; init; }

    /// <summary><c>dev-features</c>: device-specific features, each "NAME: description".</summary>
    [JsonPropertyName("dev-features")]
    public IReadOnlyList<string> DevFeatures { get; init; } = [];
}
