using Virtio.Rings;

namespace Virtio.Diagnostics;

/// <summary>What the hang analysis looks at: the device's state, the guest's ring fields and what is known of the queue.</summary>
/// <param name="Status">The device's state (<c>x-query-virtio-queue-status</c>).</param>
/// <param name="Guest">The fields read from guest RAM at about the same moment.</param>
public sealed record HangAnalysisInput(QueueStatus Status, GuestRingFields Guest)
{
    /// <summary>Whether VIRTIO_RING_F_EVENT_IDX was negotiated; null when unknown.</summary>
    public bool? EventIdx { get; init; }

    /// <summary>Whether the queue or device is broken (QEMU's <c>vdev-&gt;broken</c>).</summary>
    public bool Broken { get; init; }

    /// <summary>The <c>virtio_error</c> text, when known; a non-null text implies <see cref="Broken"/>.</summary>
    public string? BrokenError { get; init; }

    /// <summary>The requests the driver considers in flight, as the caller knows them.</summary>
    public IReadOnlyList<InFlightRequest> InFlight { get; init; } = [];
}
