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

    /// <summary>
    /// Whether the device pops this queue's buffers only when it has something to put in them (net rx, balloon stats,
    /// vsock events): there, buffers read but not popped are idle. False for a request queue (blk, net tx, ctrl), where
    /// they mean the device's handler stopped; null when unknown, and the analysis says both.
    /// </summary>
    public bool? PopsOnDemand { get; init; }

    /// <summary>
    /// What moved between two readings taken some time apart (<c>last_avail_idx 3 -&gt; 9</c>...); null for one
    /// snapshot or when nothing moved. When set, the verdict is <see cref="HangVerdict.Progressing"/> unless the queue is broken.
    /// </summary>
    public string? Progress { get; init; }

    /// <summary>The requests the driver considers in flight, as the caller knows them.</summary>
    public IReadOnlyList<InFlightRequest> InFlight { get; init; } = [];

    /// <summary>
    /// <see cref="PopsOnDemand"/> for a QEMU device known by its name: virtio-net's rx queues (even indexes, the
    /// control queue excepted when <paramref name="queueCount"/> says which it is) are; virtio-blk's queues are not;
    /// other devices are not known (null).
    /// </summary>
    /// <param name="deviceName">QEMU's device name (<c>name</c> of the queue status).</param>
    /// <param name="queueIndex">The queue.</param>
    /// <param name="queueCount">The device's queues (<c>num-vqs</c>), when known.</param>
    public static bool? PopsOnDemandFor(string deviceName, int queueIndex, int? queueCount) => deviceName switch
    {
        "virtio-blk" => false,
        "virtio-net" => (queueIndex & 1) == 0 && !(queueCount is int n && (n & 1) == 1 && queueIndex == n - 1),
        _ => null,
    };
}
