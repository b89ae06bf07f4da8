using Virtio.Devices.Block;

namespace Virtio.Devices.Tests.Support;

/// <summary>
/// A <see cref="BlockIo"/> over plain byte arrays that records how it completed. Completing it allocates nothing, so
/// allocation tests can reuse one with <see cref="Rearm"/>.
/// </summary>
public sealed class TestBlockIo : BlockIo
{
    private readonly byte[][] _segments;
    private readonly BlockRange[] _ranges;
    private readonly object _gate = new();
    private int _completions;
    private BlockIoStatus _status;
    private int _completionThread;

    private TestBlockIo(BlockIoKind kind, ulong offset, byte[][] segments, BlockRange[] ranges)
    {
        Kind = kind;
        Offset = offset;
        _segments = segments;
        _ranges = ranges;
        SegmentCount = segments.Length;
        RangeCount = ranges.Length;
        Length = (ulong)segments.Sum(s => (long)s.Length);
    }

    /// <summary>How many times the backend called <see cref="Complete"/> (must end up exactly 1).</summary>
    public int Completions => Volatile.Read(ref _completions);

    /// <summary>The status of the last completion.</summary>
    public BlockIoStatus Status => _status;

    /// <summary>Managed thread id of the thread that completed the request.</summary>
    public int CompletionThread => _completionThread;

    /// <summary>The segments as given (read: where the data landed).</summary>
    public IReadOnlyList<byte[]> Segments => _segments;

    public static TestBlockIo Read(ulong offset, params int[] segmentLengths) =>
        new(BlockIoKind.Read, offset, [.. segmentLengths.Select(n => new byte[n])], []);

    public static TestBlockIo Write(ulong offset, params byte[][] segments) =>
        new(BlockIoKind.Write, offset, segments, []);

    public static TestBlockIo Flush() => new(BlockIoKind.Flush, 0, [], []);

    public static TestBlockIo Discard(params BlockRange[] ranges) => new(BlockIoKind.Discard, 0, [], ranges);

    public static TestBlockIo WriteZeroes(params BlockRange[] ranges) => new(BlockIoKind.WriteZeroes, 0, [], ranges);

    /// <summary>A request of any kind, with any fields, to play a device that got its checks wrong.</summary>
    public static TestBlockIo Raw(BlockIoKind kind, ulong offset, ulong length, byte[][] segments, BlockRange[] ranges)
    {
        var io = new TestBlockIo(kind, offset, segments, ranges);
        io.Length = length;
        return io;
    }

    /// <summary>The segments joined in order.</summary>
    public byte[] Data() => [.. _segments.SelectMany(s => s)];

    /// <summary>Makes the request submittable again, at another offset; allocates nothing.</summary>
    public void Rearm(ulong offset)
    {
        Offset = offset;
        Volatile.Write(ref _completions, 0);
    }

    /// <summary>Waits for the completion (asynchronous backends).</summary>
    public bool WaitForCompletion(TimeSpan timeout)
    {
        lock (_gate)
        {
            return _completions != 0 || (Monitor.Wait(_gate, timeout) && _completions != 0);
        }
    }

    public override Span<byte> GetSegment(int index) => _segments[index];

    public override BlockRange GetRange(int index) => _ranges[index];

    public override void Complete(BlockIoStatus status)
    {
        _status = status;
        _completionThread = Environment.CurrentManagedThreadId;
        lock (_gate)
        {
            _completions++;
            Monitor.PulseAll(_gate);
        }
    }
}
