using System.Text.Json.Serialization;

namespace Virtio.Diagnostics.Qmp;

/// <summary>
/// <c>x-query-virtio-vhost-queue-status</c> (QEMU 7.2 <c>VirtVhostQueueStatus</c>): where a vhost back-end's ring
/// lives. It has no device-side indexes; QEMU asks nothing of the back-end to answer it.
/// </summary>
public sealed record VhostQueueStatus
{
    /// <summary><c>name</c>.</summary>
    [JsonPropertyName("name")]
    public required string Name { get; init; }

    /// <summary><c>kick</c>: the kick eventfd.</summary>
    [JsonPropertyName("kick")]
    public int Kick { get; init; }

    /// <summary><c>call</c>: the call eventfd.</summary>
    [JsonPropertyName("call")]
    public int Call { get; init; }

    /// <summary><c>num</c>: the queue size.</summary>
    [JsonPropertyName("num")]
    public required uint Num { get; init; }

    /// <summary><c>desc-phys</c>: the descriptor table's guest-physical address.</summary>
    [JsonPropertyName("desc-phys")]
    public required ulong DescPhys { get; init; }

    /// <summary><c>avail-phys</c>: the available ring's guest-physical address.</summary>
    [JsonPropertyName("avail-phys")]
    public required ulong AvailPhys { get; init; }

    /// <summary><c>used-phys</c>: the used ring's guest-physical address.</summary>
    [JsonPropertyName("used-phys")]
    public required ulong UsedPhys { get; init; }
}
