namespace Virtio.Rings;

/// <summary>
/// A record of the heads a <see cref="SplitQueue"/> has in flight, kept outside the device so that it survives it: the
/// vhost-user inflight region (QEMU docs/interop/vhost-user.rst "Inflight I/O tracking"). The queue calls it on its
/// worker, in ring order, at the steps the record must follow to stay consistent if the device dies between any two.
/// </summary>
/// <remarks>Called on the hot path: implementations must not allocate or block.</remarks>
public interface IInflightLog
{
    /// <summary>A head was popped from the available ring (mirrors libvhost-user's <c>vu_queue_inflight_get</c>).</summary>
    /// <param name="head">The chain's head index, below the queue size.</param>
    void Popped(ushort head);

    /// <summary>A popped head was given back to the available ring (<see cref="SplitQueue.Rewind"/>), never completed.</summary>
    /// <param name="head">The chain's head index.</param>
    void Unpopped(ushort head);

    /// <summary>
    /// The used elements of <paramref name="heads"/> are written and <c>used-&gt;idx</c> is about to publish them: record
    /// the batch (<c>last_batch_head</c>), so that a device dying right after the store is known to have completed them.
    /// </summary>
    /// <param name="heads">The heads of the batch, in used-ring order; valid only during the call.</param>
    void Publishing(ReadOnlySpan<ushort> heads);

    /// <summary><c>used-&gt;idx</c> became <paramref name="usedIdx"/>, publishing <paramref name="heads"/>: they are no longer in flight.</summary>
    /// <param name="heads">The heads of the batch, in used-ring order; valid only during the call.</param>
    /// <param name="usedIdx">The used index just published.</param>
    void Published(ReadOnlySpan<ushort> heads, ushort usedIdx);
}
