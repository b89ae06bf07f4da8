using System.Diagnostics;

namespace Virtio.Workloads.Bench;

/// <summary>What the device benchmarks share: the measured run.</summary>
internal static class BenchRun
{
    /// <summary>
    /// Runs <paramref name="loop"/> over <paramref name="warmup"/> unmeasured operations, then over
    /// <paramref name="count"/> measured ones on this thread.
    /// </summary>
    /// <param name="loop">Runs n operations and returns how many failed.</param>
    /// <param name="count">Operations in the measured run.</param>
    /// <param name="warmup">Operations run first, unmeasured.</param>
    /// <remarks>
    /// The loop stays tiered (AggressiveOptimization would skip the profile-guided inlining: 80 ns more per blk
    /// request), so a short warm-up can leave the runtime's one-time work (tiering up, lazily built structures) inside
    /// the measured run, where a few KiB of it count as this thread's allocations: the tests take the least of several runs.
    /// </remarks>
    /// <returns>Elapsed time, operations run, bytes this thread allocated in the measured run, and failures.</returns>
    public static (TimeSpan Elapsed, long Operations, long AllocatedBytes, long Failed) Measure(Func<long, long> loop, long count, long warmup)
    {
        loop(warmup);
        long before = GC.GetAllocatedBytesForCurrentThread();
        long start = Stopwatch.GetTimestamp();
        long failed = loop(count);
        TimeSpan elapsed = Stopwatch.GetElapsedTime(start);
        return (elapsed, count, GC.GetAllocatedBytesForCurrentThread() - before, failed);
    }
}
