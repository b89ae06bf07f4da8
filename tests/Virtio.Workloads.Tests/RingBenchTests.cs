using Virtio.Workloads.Bench;

namespace Virtio.Workloads.Tests;

/// <summary>The ring benchmark's loop measures the ring, not the garbage collector: its steady state allocates nothing.</summary>
[Collection("Threads")]
public class RingBenchTests
{
    [Theory]
    [InlineData(RingBenchMode.Notify)]
    [InlineData(RingBenchMode.Poll)]
    public void Two_thread_run_allocates_nothing(RingBenchMode mode)
    {
        // Each ring thread counts its own allocations, so other tests running in parallel do not show here.
        using var bench = new RingBench(new RingBenchOptions { Threads = 2, Mode = mode, Buffers = 200_000 });
        long[] runs = [.. Enumerable.Range(0, 3).Select(_ => bench.Run(warmup: 50_000).AllocatedBytes)];
        Assert.Equal([0L, 0L, 0L], runs);
    }

    [Theory]
    [InlineData(1, RingBenchMode.Poll, 32, 1)]
    [InlineData(1, RingBenchMode.Poll, 7, 3)]
    [InlineData(2, RingBenchMode.Poll, 32, 1)]
    [InlineData(2, RingBenchMode.Notify, 32, 1)]
    public void Burst_run_moves_every_buffer_and_allocates_nothing(int threads, RingBenchMode mode, int batch, int segments)
    {
        using var bench = new RingBench(new RingBenchOptions
        {
            Threads = threads, Mode = mode, Buffers = 100_003, Batch = batch, Burst = true, Segments = segments, Indirect = segments > 1,
        });
        RingBenchResult[] runs = [.. Enumerable.Range(0, 3).Select(_ => bench.Run(warmup: 20_000))];
        Assert.All(runs, r => Assert.Equal(100_003, r.Buffers));
        Assert.Contains(runs, r => r.AllocatedBytes == 0);
    }
}
