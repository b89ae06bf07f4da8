using System.Text.Json.Serialization;

namespace Virtio.Diagnostics.Qmp;

/// <summary>
/// The fields of <c>x-query-virtio-status</c> (QEMU 7.2 <c>VirtioStatus</c>) the diagnosis uses; later QEMUs add
/// fields, which are ignored. <see cref="Json"/> keeps the reply as QEMU sent it, for the offline analysis.
/// </summary>
public sealed record QemuVirtioStatus
{
    /// <summary><c>name</c>.</summary>
    [JsonPropertyName("name")]
    public required string Name { get; init; }

    /// <summary><c>device-id</c>.</summary>
    [JsonPropertyName("device-id")]
    public required ushort DeviceId { get; init; }

    /// <summary><c>vhost-started</c>: a vhost back-end runs the rings, QEMU's own indexes are not the device's.</summary>
    [JsonPropertyName("vhost-started")]
    public required bool VhostStarted { get; init; }

    /// <summary><c>broken</c>: virtio_error ran (DEVICE_NEEDS_RESET).</summary>
    [JsonPropertyName("broken")]
    public required bool Broken { get; init; }

    /// <summary><c>num-vqs</c>: the queues the driver set up.</summary>
    [JsonPropertyName("num-vqs")]
    public required int NumVqs { get; init; }

    /// <summary><c>guest-features</c>: what the driver acknowledged.</summary>
    [JsonPropertyName("guest-features")]
    public required QemuVirtioFeatures GuestFeatures { get; init; }

    /// <summary><c>status</c>: the status byte, decoded.</summary>
    [JsonPropertyName("status")]
    public required VirtioStatusBits Status { get; init; }

    /// <summary>The reply's <c>return</c> object as QEMU sent it.</summary>
    [JsonIgnore]
    public string Json { get; init; } = "";

    /// <summary>Whether VIRTIO_RING_F_EVENT_IDX is among the guest features.</summary>
    [JsonIgnore]
    public bool EventIdx => HasTransport("VIRTIO_RING_F_EVENT_IDX");

    /// <summary>
    /// Whether VIRTIO_F_ACCESS_PLATFORM (QEMU 7.2 names it VIRTIO_F_IOMMU_PLATFORM) is among the guest features: the
    /// ring addresses are then IOVAs, not guest-physical addresses.
    /// </summary>
    [JsonIgnore]
    public bool AccessPlatform => HasTransport("VIRTIO_F_IOMMU_PLATFORM") || HasTransport("VIRTIO_F_ACCESS_PLATFORM");

    /// <summary>The status bits' names (the part of each entry before the colon).</summary>
    [JsonIgnore]
    public IEnumerable<string> StatusNames => Status.Statuses.Select(NameOf);

    // QEMU decodes each bit as "NAME: description" (qmp_decode_features); compare the name.
    private bool HasTransport(string name) => GuestFeatures.Transports.Any(t => NameOf(t) == name);

    private static string NameOf(string decoded)
    {
        int colon = decoded.IndexOf(':', StringComparison.Ordinal);
        return (colon < 0 ? decoded : decoded[..colon]).Trim();
    }
}
