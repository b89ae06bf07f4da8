namespace Virtio.Rings;

/// <summary>
/// The fields the driver and the device publish to each other in guest RAM, read as they are now. The diagnostics
/// compare these with the device's shadow state to tell who stopped talking to whom.
/// </summary>
/// <param name="AvailFlags"><c>avail-&gt;flags</c> (VRING_AVAIL_F_NO_INTERRUPT).</param>
/// <param name="AvailIdx"><c>avail-&gt;idx</c>: buffers the driver has made available.</param>
/// <param name="UsedEvent"><c>used_event</c> (<c>avail-&gt;ring[num]</c>); meaningful with EVENT_IDX only.</param>
/// <param name="UsedFlags"><c>used-&gt;flags</c> (VRING_USED_F_NO_NOTIFY).</param>
/// <param name="UsedIdx"><c>used-&gt;idx</c>: buffers the device has published as used.</param>
/// <param name="AvailEvent"><c>avail_event</c> (<c>used-&gt;ring[num]</c>); meaningful with EVENT_IDX only.</param>
public readonly record struct GuestRingFields(
    ushort AvailFlags,
    ushort AvailIdx,
    ushort UsedEvent,
    ushort UsedFlags,
    ushort UsedIdx,
    ushort AvailEvent);
