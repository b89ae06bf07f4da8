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

    // 1 while the backend holds the request: Complete counts only once, so a backend that completes twice, or late
    // after it threw from Submit, cannot complete the slot's next request.
    private int _outstanding;

    public BlockRequest(BlockDevice device, VirtioQueue queue, int maxSegments, int maxRanges)
    {
        _device = device;
        Queue = queue;
        _segmentPointers = new nint[maxSegments];
        _segmentLengths = new int[maxSegments];
        _ranges = new BlockRange[maxRanges];
    }

    public VirtioQueue Queue { get; }

    public DescriptorChain Chain { get; private set; }

    public VirtioBlkRequestType Type { get; private set; }

    /// <summary>A write in writethrough mode: flush before acknowledging it.</summary>
    public bool FlushAfter { get; set; }

    public int MaxSegments => _segmentPointers.Length;

    public int MaxRanges => _ranges.Length;

    public void Begin(in DescriptorChain chain, VirtioBlkRequestType type)
    {
        Chain = chain;
        Type = type;
        FlushAfter = false;
        SegmentCount = 0;
        RangeCount = 0;
        Offset = 0;
        Length = 0;
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

    /// <summary>The device hands the request to the backend.</summary>
    public void MarkSubmitted() => Volatile.Write(ref _outstanding, 1);

    /// <summary>Takes the request back from the backend; false when it was not outstanding (already completed).</summary>
    public bool TryTakeBack() => Interlocked.Exchange(ref _outstanding, 0) == 1;

    public override void Complete(BlockIoStatus status)
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
