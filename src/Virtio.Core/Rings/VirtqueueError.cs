namespace Virtio.Rings;

/// <summary>
/// Why a queue broke: the rule the driver broke and the numbers, in words a QEMU developer recognises. Created only
/// when a queue breaks, never on the hot path.
/// </summary>
public sealed class VirtqueueError
{
    internal VirtqueueError(VirtqueueErrorKind kind, int queueIndex, string message)
    {
        Kind = kind;
        QueueIndex = queueIndex;
        Message = message;
    }

    /// <summary>The rule that was broken.</summary>
    public VirtqueueErrorKind Kind { get; }

    /// <summary>The index of the queue within its device.</summary>
    public int QueueIndex { get; }

    /// <summary>The message, phrased like QEMU's <c>virtio_error</c> text where QEMU has one.</summary>
    public string Message { get; }

    /// <inheritdoc />
    public override string ToString() => $"virtqueue {QueueIndex}: {Message}";

    internal static string Describe(VirtqueueErrorKind kind, ulong a, ulong b) => kind switch
    {
        VirtqueueErrorKind.InvalidSize => $"Invalid queue size {a} (a power of two from 1 to {b})",
        VirtqueueErrorKind.RingMisaligned => $"Ring area at 0x{a:x} is not {b}-byte aligned",
        VirtqueueErrorKind.RingUnmapped => $"Cannot map {RingAreaName(b)} at 0x{a:x}",
        // QEMU's text for this rule says "used" although it compares avail indexes; kept so the log greps alike.
        VirtqueueErrorKind.AvailIndexTooFar => $"Guest moved used index from {a} to {b}",
        VirtqueueErrorKind.SizeExceeded => "Virtqueue size exceeded",
        VirtqueueErrorKind.HeadOutOfRange => $"Guest says index {a} is available",
        VirtqueueErrorKind.NextOutOfRange => $"Desc next is {a}",
        VirtqueueErrorKind.LoopedDescriptor => $"Looped descriptor (more than {a} descriptors in the chain)",
        VirtqueueErrorKind.IndirectNotNegotiated => $"Indirect descriptor {a} used but VIRTIO_RING_F_INDIRECT_DESC was not negotiated",
        VirtqueueErrorKind.IndirectTableInvalidSize => $"Invalid size for indirect buffer table ({a} bytes)",
        VirtqueueErrorKind.IndirectTableTooLarge => $"Indirect buffer table of {a} descriptors exceeds the maximum of {b}",
        VirtqueueErrorKind.IndirectTableUnmapped => $"Cannot map indirect buffer at 0x{a:x} ({b} bytes)",
        VirtqueueErrorKind.NestedIndirect => $"Nested indirect descriptor at index {a} of an indirect table",
        VirtqueueErrorKind.IndirectWithNext => $"Descriptor {a} has both INDIRECT and NEXT set",
        VirtqueueErrorKind.ReadableAfterWritable => "Incorrect order for descriptors",
        VirtqueueErrorKind.BufferUnmapped => $"virtio: bogus descriptor or out of resources (0x{a:x}, {b} bytes)",
        VirtqueueErrorKind.ZeroLengthBuffer => "virtio: zero sized buffers are not allowed",
        VirtqueueErrorKind.BufferTooLarge => $"Descriptor of {a} bytes exceeds the largest buffer this device maps ({b} bytes)",
        VirtqueueErrorKind.ChainLengthOverflow => $"Descriptor chain length {a} overflows 32 bits",
        VirtqueueErrorKind.ChainModifiedInFlight => $"Descriptor chain at head {a} changed while in flight",
        VirtqueueErrorKind.HeadInUse => $"Guest posted descriptor head {a} while it is in use",
        VirtqueueErrorKind.ResubmitBeyondAvail => $"Resubmitted head {a} but avail->idx {b} has no entry left for it",
        _ => kind.ToString(),
    };

    private static string RingAreaName(ulong area) => area switch
    {
        0 => "desc",
        1 => "avail",
        _ => "used",
    };
}
