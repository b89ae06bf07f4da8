using Virtio.Rings;
using Virtio.VhostUser.Interop;

namespace Virtio.VhostUser;

/// <summary>
/// One ring's record in the inflight region, written as the ring's worker pops and publishes (libvhost-user's
/// vu_queue_inflight_get, pre_put and post_put, with the doc's batch list), so that the front-end holds, at every
/// step, which requests a killed back-end still owed the guest.
/// </summary>
/// <remarks>Runs on the ring's worker under the queue lock: no allocation, no blocking.</remarks>
internal sealed class InflightQueueLog : IInflightLog
{
    private readonly nint _address;
    private readonly int _length;
    private ulong _counter;

    public InflightQueueLog(nint address, int length, ulong nextCounter)
    {
        _address = address;
        _length = length;
        _counter = nextCounter;
    }

    /// <summary>The record's bytes, in the region's mapping.</summary>
    public Span<byte> Queue => SharedMemory.AsSpan(_address, _length);

    /// <summary>The counter the next pop gets (the doc's "global counter").</summary>
    public ulong NextCounter => _counter;

    public void Popped(ushort head) => InflightSplitQueue.Get(Queue, head, _counter++);

    public void Unpopped(ushort head) => InflightSplitQueue.Discard(Queue, head);

    public void Publishing(ReadOnlySpan<ushort> heads) => InflightSplitQueue.Publishing(Queue, heads);

    public void Published(ReadOnlySpan<ushort> heads, ushort usedIdx) => InflightSplitQueue.Published(Queue, heads, usedIdx);
}
