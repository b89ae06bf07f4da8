using BenchmarkDotNet.Attributes;
using Virtio.Workloads.Bench;

namespace Virtio.Benchmarks;

/// <summary>
/// virtio-blk requests through virtio-mmio on the memory backend, one thread: 1024 requests per invocation at queue
/// depth 32 (the same loop as <c>virtio bench blk</c>), so the reported time divided by 1024 is the time per request.
/// </summary>
[MemoryDiagnoser]
public class BlkBenchmarks : IDisposable
{
    private BlkBench? _bench;

    /// <summary>read, write, randread or randwrite.</summary>
    [Params("randread", "randwrite")]
    public string Rw { get; set; } = "randread";

    /// <summary>Sets up the device and the driver.</summary>
    [GlobalSetup]
    public void Setup() => _bench = new BlkBench(Rw, 4096, 32);

    /// <summary>1024 requests of 4 KiB.</summary>
    [Benchmark(OperationsPerInvoke = 1024)]
    public long Requests4K() => _bench!.Run(1024, 0).Failed;

    /// <inheritdoc/>
    [GlobalCleanup]
    public void Dispose()
    {
        _bench?.Dispose();
        GC.SuppressFinalize(this);
    }
}
