namespace Virtio.Driver;

/// <summary>A device misbehaviour the driver side detects (Linux's <c>BAD_RING</c>).</summary>
public enum DriverRingErrorKind
{
    /// <summary>A used element's id is at or past the queue size ("id %u out of range").</summary>
    UsedIdOutOfRange = 1,

    /// <summary>A used element's id is not the head of a chain in flight ("id %u is not a head!").</summary>
    UsedIdNotAHead,
}
