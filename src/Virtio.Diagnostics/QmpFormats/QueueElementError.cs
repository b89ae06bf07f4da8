namespace Virtio.Diagnostics;

/// <summary>Why <see cref="QueueElement.TryRead(Virtio.Memory.GuestMemory, QueueStatus, ushort?, out QueueElement?, out QueueElementError?)"/> failed, with the numbers.</summary>
/// <param name="Kind">The rule the ring breaks, or the area that is not mapped.</param>
/// <param name="Message">The message, phrased like QEMU's where QEMU has one.</param>
public sealed record QueueElementError(QueueElementErrorKind Kind, string Message)
{
    /// <inheritdoc />
    public override string ToString() => Message;
}
