namespace Virtio.Rings;

/// <summary>
/// Each rule of the split ring (VIRTIO 1.x section 2.7) that a driver can break. Breaking one makes the queue
/// broken until reset, as QEMU's <c>virtio_error</c> does (the device then sets DEVICE_NEEDS_RESET).
/// </summary>
public enum VirtqueueErrorKind
{
    /// <summary>The queue size is 0, above the maximum, or not a power of two.</summary>
    InvalidSize = 1,

    /// <summary>A ring area breaks its alignment (descriptor table 16, available ring 2, used ring 4).</summary>
    RingMisaligned,

    /// <summary>A ring area is not inside one guest memory region (QEMU: "Cannot map desc/avail/used").</summary>
    RingUnmapped,

    /// <summary><c>avail-&gt;idx</c> is more than the queue size ahead of <c>last_avail_idx</c>.</summary>
    AvailIndexTooFar,

    /// <summary>More chains in flight than the queue size (QEMU: "Virtqueue size exceeded").</summary>
    SizeExceeded,

    /// <summary>The available ring names a head at or past the queue size (QEMU: "Guest says index %u is available").</summary>
    HeadOutOfRange,

    /// <summary>A <c>next</c> field is at or past the table size (QEMU: "Desc next is %u").</summary>
    NextOutOfRange,

    /// <summary>A chain visits more descriptors than its table holds (QEMU: "Looped descriptor").</summary>
    LoopedDescriptor,

    /// <summary>A descriptor has INDIRECT set but VIRTIO_RING_F_INDIRECT_DESC was not negotiated.</summary>
    IndirectNotNegotiated,

    /// <summary>An indirect table's length is 0 or not a multiple of 16 (QEMU: "Invalid size for indirect buffer table").</summary>
    IndirectTableInvalidSize,

    /// <summary>An indirect table holds more descriptors than the queue's maximum.</summary>
    IndirectTableTooLarge,

    /// <summary>An indirect table is not inside guest memory (QEMU: "Cannot map indirect buffer").</summary>
    IndirectTableUnmapped,

    /// <summary>
    /// An INDIRECT descriptor inside an indirect table (spec 2.7.5.3.1; vhost: "Nested indirect descriptor"). QEMU does
    /// not check this rule.
    /// </summary>
    NestedIndirect,

    /// <summary>A descriptor with both INDIRECT and NEXT set (spec 2.7.5.3.1). QEMU ignores NEXT instead.</summary>
    IndirectWithNext,

    /// <summary>A device-readable descriptor after a device-writable one (QEMU: "Incorrect order for descriptors").</summary>
    ReadableAfterWritable,

    /// <summary>A buffer outside guest memory (QEMU: "virtio: bogus descriptor or out of resources").</summary>
    BufferUnmapped,

    /// <summary>A zero-length buffer (QEMU: "virtio: zero sized buffers are not allowed").</summary>
    ZeroLengthBuffer,

    /// <summary>One buffer is longer than this library maps at once (2 GiB - 1 bytes).</summary>
    BufferTooLarge,

    /// <summary>The chain's total length overflows 32 bits.</summary>
    ChainLengthOverflow,

    /// <summary>A chain that was valid when popped became invalid while the device used it.</summary>
    ChainModifiedInFlight,

    /// <summary>
    /// The available ring names a head the device popped and has not yet put in the used ring (spec 2.7.13: the
    /// driver may reuse a descriptor only once the device has used it). QEMU does not check this; without the check a
    /// device that keeps per-head request state (virtio-blk) would have one slot claimed by two requests.
    /// </summary>
    HeadInUse,

    /// <summary>
    /// A head resubmitted after a device restart (<see cref="SplitQueue.PopHead"/>, the vhost-user inflight region)
    /// stands for an available entry the driver never published: the record claims more chains in flight than
    /// <c>avail-&gt;idx</c> allows.
    /// </summary>
    ResubmitBeyondAvail,
}
