using Virtio.Testing;
using Virtio.Workloads.Bench;

namespace Virtio.Workloads.Tests;

/// <summary>The benchmark's loop is itself correct: every request succeeds and nothing is allocated per request.</summary>
[Collection("BlkThreads")]
public class BlkBenchTests
{
    [Theory]
    [InlineData("read", 4096, 32)]
    [InlineData("randwrite", 512, 1)]
    [InlineData("randread", 65536, 8)]
    public void Bench_requests_all_succeed_without_allocating(string rw, int blockSize, int depth)
    {
        using var bench = new BlkBench(rw, blockSize, depth);
        long failed = 0, requests = 0;
        long allocated = SteadyState.Least(() =>
        {
            var run = bench.Run(20_000, 2_000);
            requests += run.Requests;
            failed += run.Failed;
            return run.AllocatedBytes;
        });
        Assert.True(requests >= 20_000);
        Assert.Equal(0, failed);
        Assert.Equal(0, allocated);
    }

    [Fact]
    public void Bench_rejects_an_unknown_mode()
    {
        Assert.Throws<ArgumentException>(() => new BlkBench("trim", 4096, 1));
    }
}
