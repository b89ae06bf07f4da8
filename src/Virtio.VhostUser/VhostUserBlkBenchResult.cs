namespace Virtio.VhostUser;

/// <summary>What <see cref="VhostUserBlkBench"/> measured.</summary>
/// <param name="Requests">Requests completed in the measured run.</param>
/// <param name="Elapsed">Its wall-clock time.</param>
/// <param name="Kicks">Kicks the driver sent (with EVENT_IDX, only when the device asked for one: a device that polls asks for few).</param>
/// <param name="Sleeps">Times the driver slept on its call eventfd (the rest it found completions by polling the used ring).</param>
/// <param name="Errors">Requests that did not complete with VIRTIO_BLK_S_OK.</param>
/// <param name="EventIdx">Whether VIRTIO_RING_F_EVENT_IDX was negotiated.</param>
public readonly record struct VhostUserBlkBenchResult(long Requests, TimeSpan Elapsed, long Kicks, long Sleeps, long Errors, bool EventIdx)
{
    /// <summary>Whether the back-end recorded the requests in a shared inflight region (INFLIGHT_SHMFD).</summary>
    public bool Inflight { get; init; }

    /// <summary>Requests per second.</summary>
    public double Iops => Requests / Elapsed.TotalSeconds;

    /// <summary>
    /// Kicks per request. With EVENT_IDX a device asks for a kick only when it is about to wait (its avail_event); a
    /// device still draining the ring, or polling it, needs none, so this counts the device's wake-ups per request,
    /// whichever way it waits.
    /// </summary>
    public double KicksPerRequest => Requests == 0 ? 0 : (double)Kicks / Requests;
}
