namespace Virtio.Testing;

/// <summary>
/// Allocation-freedom measured after warm-up, as the least of a few measured runs. A hot path that allocates does so
/// in every run; what the runtime does once, lazily, on the thread that first needs it (seen in a fresh test process
/// as 0.5 to 8 KiB in one run of a device loop, with no garbage collection in between: tiering a method up, filling a
/// generic dictionary slot, growing per-thread storage) shows in one run only.
/// </summary>
public static class SteadyState
{
    /// <summary>How many measured runs at most.</summary>
    public const int Runs = 3;

    /// <summary>The least of up to <see cref="Runs"/> counts of the bytes this thread allocates in <paramref name="run"/>.</summary>
    public static long AllocatedBytes(Action run) => Least(() =>
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        run();
        return GC.GetAllocatedBytesForCurrentThread() - before;
    });

    /// <summary>The least of up to <see cref="Runs"/> results of <paramref name="measure"/>, which counts its own measured part's allocations (the benchmarks do).</summary>
    public static long Least(Func<long> measure)
    {
        long least = long.MaxValue;
        for (int i = 0; i < Runs && least != 0; i++)
        {
            least = Math.Min(least, measure());
        }

        return least;
    }
}
