namespace Virtio.Driver;

/// <summary>How a <see cref="DriverQueue{TToken}"/> is set up: the negotiated ring features and where its private memory lives.</summary>
public sealed class DriverQueueOptions
{
    /// <summary>VIRTIO_RING_F_EVENT_IDX was negotiated.</summary>
    public bool EventIdx { get; init; } = true;

    /// <summary>VIRTIO_RING_F_INDIRECT_DESC was negotiated; requires <see cref="IndirectTableArea"/>.</summary>
    public bool IndirectDescriptors { get; init; }

    /// <summary>
    /// Guest-physical address of the driver's indirect tables: one table of <see cref="MaxIndirectSegments"/>
    /// descriptors per head (<see cref="IndirectAreaBytes"/> bytes, 16-byte aligned). Linux
    /// allocates a table per request; a fixed slot per head keeps the model allocation-free.
    /// </summary>
    public ulong IndirectTableArea { get; init; }

    /// <summary>The most segments one indirect table holds; longer requests fall back to direct chains, as Linux does when its allocation fails.</summary>
    public int MaxIndirectSegments { get; init; } = 16;

    /// <summary>Whether used-buffer callbacks start enabled (Linux: the queue has a callback).</summary>
    public bool CallbacksEnabled { get; init; } = true;

    /// <summary>
    /// Clamp a used length larger than the chain's writable space to that space, and count it
    /// (<see cref="DriverQueue{TToken}.UsedLengthClamped"/>). Off by default, as in Linux: 5.16 added such a check
    /// (939779f5152d) and it was reverted (f124034faa91), so drivers get the device's length unchecked.
    /// </summary>
    public bool ClampUsedLength { get; init; }

    /// <summary>The queue's index within its device, passed to the fault plan.</summary>
    public int QueueIndex { get; init; }

    /// <summary>Bytes the indirect table area needs for a queue of <paramref name="size"/>: one table of <see cref="MaxIndirectSegments"/> descriptors per head.</summary>
    public ulong IndirectAreaBytes(int size) => (ulong)size * (ulong)MaxIndirectSegments * 16;
}
