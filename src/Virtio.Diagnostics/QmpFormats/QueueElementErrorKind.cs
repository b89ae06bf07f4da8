namespace Virtio.Diagnostics;

/// <summary>Why a queue element could not be read from guest RAM. The ring is untrusted; none of these throw.</summary>
public enum QueueElementErrorKind
{
    /// <summary><c>vring-num</c> is 0, above 32768 or not a power of two.</summary>
    InvalidQueueSize = 1,

    /// <summary>The descriptor table is not inside guest memory (QEMU: "Cannot map descriptor ring").</summary>
    DescriptorTableUnmapped,

    /// <summary>The available ring is not inside guest memory.</summary>
    AvailRingUnmapped,

    /// <summary>The used ring's flags and index are not inside guest memory.</summary>
    UsedRingUnmapped,

    /// <summary>The available ring names a head at or past the queue size.</summary>
    HeadOutOfRange,

    /// <summary>A <c>next</c> field is at or past the table size (QEMU: "Desc next is %u").</summary>
    NextOutOfRange,

    /// <summary>The chain visits more descriptors than its table holds: it loops.</summary>
    LoopedDescriptor,

    /// <summary>An indirect table's length is 0 or not a multiple of 16.</summary>
    IndirectTableInvalidSize,

    /// <summary>An indirect table is not inside guest memory (QEMU: "Cannot map indirect buffer").</summary>
    IndirectTableUnmapped,
}
