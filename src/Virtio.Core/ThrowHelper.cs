using System.Diagnostics.CodeAnalysis;

namespace Virtio;

/// <summary>Throw sites kept out of hot methods so those stay small and inlinable.</summary>
internal static class ThrowHelper
{
    [DoesNotReturn]
    public static void QueueIsReady() =>
        throw new InvalidOperationException("the queue is ready: reset it before changing its configuration");

    [DoesNotReturn]
    public static void NothingInFlight() => throw new InvalidOperationException("no chain is in flight");

    [DoesNotReturn]
    public static void HeadOutOfRange(ushort head, int size) =>
        throw new ArgumentOutOfRangeException(nameof(head), head, $"a used element's id must be below the queue size {size}");

    [DoesNotReturn]
    public static void FlushMoreThanInFlight(int count, int inUse) =>
        throw new InvalidOperationException($"cannot flush {count} used element(s): only {inUse} chain(s) are in flight");

    [DoesNotReturn]
    public static void BurstLengthsDiffer(int chains, int lengths) =>
        throw new ArgumentException($"{chains} chain(s) but {lengths} length(s): a burst gives one length per chain", nameof(lengths));
}
