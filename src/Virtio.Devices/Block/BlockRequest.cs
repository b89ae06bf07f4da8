using System.Diagnostics;
using Virtio.Device;
using Virtio.Rings;

namespace Virtio.Devices.Block;

/// <summary>
/// One virtio-blk request slot: the parsed request handed to the backend. There is one per descriptor head and queue,
/// made when the device is created and reused, so the request path allocates nothing.
/// </summary>
internal sealed unsafe class BlockRequest : BlockIo
{
    private readonly BlockDevice _device;
    private readonly nint[] _segmentPointers;
    private readonly int[] _segmentLengths;
    private readonly BlockRange[] _ranges;

    // The status byte as the device's walk found it (0: not found, the completion walks the chain for it).
    private nint _statusByte;

    // The chain, kept in place: the completion path reads it by reference (a copy is 64 bytes with a GC reference).
    private DescriptorChain _chain;

    // True while the backend holds the request: Complete counts only once, so a backend that completes twice, or late
    // after it threw from Submit, cannot complete the slot's next request. Read and written only under the queue's lock
    // (the handler submits under it, Complete takes it), so a synchronous backend completing from inside the handler,
    // the common case, pays no atomic instruction for the check.
    private bool _outstanding;

    public BlockRequest(BlockDevice device, VirtioQueue queue, int maxSegments, int maxRanges)
    {
        _device = device;
        Queue = queue;
        _segmentPointers = new nint[maxSegments];
        _segmentLengths = new int[maxSegments];
        _ranges = new BlockRange[maxRanges];
    }

    public VirtioQueue Queue { get; }

    public ref readonly DescriptorChain Chain => ref _chain;

    public VirtioBlkRequestType Type { get; private set; }

    /// <summary>A write in writethrough mode: flush before acknowledging it.</summary>
    public bool FlushAfter { get; set; }

    public int MaxSegments => _segmentPointers.Length;

    public int MaxRanges => _ranges.Length;

    public void Begin(in DescriptorChain chain, VirtioBlkRequestType type)
    {
        _chain = chain;
        Type = type;
        FlushAfter = false;
        SegmentCount = 0;
        RangeCount = 0;
        Offset = 0;
        Length = 0;
        _statusByte = 0;
    }

    /// <summary>The chain's last writable byte, where the status goes; empty when the device did not walk that far.</summary>
    public Span<byte> StatusByte => _statusByte == 0 ? default : new Span<byte>((void*)_statusByte, 1);

    /// <summary>Keeps where the status goes (guest RAM stays mapped while the request is in flight, as for the segments).</summary>
    public void SetStatusByte(Span<byte> statusByte)
    {
        fixed (byte* p = statusByte)
        {
            _statusByte = statusByte.Length == 1 ? (nint)p : 0;
        }
    }

    public void SetTransfer(BlockIoKind kind, ulong offset) => (Kind, Offset) = (kind, offset);

    public void SetKind(BlockIoKind kind) => Kind = kind;

    public void AddSegment(Span<byte> segment)
    {
        int i = SegmentCount++;
        fixed (byte* p = segment)
        {
            // Guest RAM is native memory that stays mapped while the queue is ready (and through a reset's drain).
            _segmentPointers[i] = (nint)p;
        }

        _segmentLengths[i] = segment.Length;
        Length += (ulong)segment.Length;
    }

    public void AddRange(BlockRange range) => _ranges[RangeCount++] = range;

    public override Span<byte> GetSegment(int index)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)index, (uint)SegmentCount, nameof(index));
        return new Span<byte>((void*)_segmentPointers[index], _segmentLengths[index]);
    }

    public override BlockRange GetRange(int index)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)index, (uint)RangeCount, nameof(index));
        return _ranges[index];
    }

    /// <summary>The device hands the request to the backend (under the queue's lock).</summary>
    public void MarkSubmitted()
    {
        Debug.Assert(Queue.IsLockHeld, "the outstanding flag is the queue lock's");
        _outstanding = true;
    }

    /// <summary>Takes the request back from the backend, under the queue's lock; false when it was not outstanding (already completed).</summary>
    public bool TryTakeBack()
    {
        Debug.Assert(Queue.IsLockHeld, "the outstanding flag is the queue lock's");
        if (!_outstanding)
        {
            return false;
        }

        _outstanding = false;
        return true;
    }

    public override void Complete(BlockIoStatus status)
    {
        // Inside the queue's handler (a synchronous backend) the lock is this thread's already; from a backend's own
        // thread it is taken here, once, for the check and the completion (which needs it anyway).
        if (Queue.IsLockHeld)
        {
            CompleteLocked(status);
            return;
        }

        using (Queue.EnterLock())
        {
            CompleteLocked(status);
        }
    }

    private void CompleteLocked(BlockIoStatus status)
    {
        if (!TryTakeBack())
        {
            _device.OnBackendDoubleComplete(this);
            return;
        }

        try
        {
            _device.OnBackendComplete(this, status);
        }
        catch (Exception e)
        {
            // Completion runs on the backend's thread (a thread-pool thread for the asynchronous file backend), where
            // an exception would end the process: it breaks the device instead.
            _device.OnCompletionFailed(this, e);
        }
    }
}
