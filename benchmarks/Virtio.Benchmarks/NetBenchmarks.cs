using BenchmarkDotNet.Attributes;
using Virtio.Workloads.Bench;

namespace Virtio.Benchmarks;

/// <summary>
/// virtio-net frames through the loopback backend, tx to rx, through virtio-mmio, one thread: 1024 frames per invocation
/// in batches of 32 (the same loop as <c>virtio bench net</c>), so the reported time is per frame.
/// </summary>
[MemoryDiagnoser]
public class NetBenchmarks : IDisposable
{
    private NetBench? _bench;

    /// <summary>Ethernet frame bytes without the header.</summary>
    [Params(64, 1514)]
    public int FrameSize { get; set; } = 64;

    /// <summary>MRG_RXBUF negotiated.</summary>
    [Params(true, false)]
    public bool Mergeable { get; set; } = true;

    /// <summary>Sets up the device and the driver.</summary>
    [GlobalSetup]
    public void Setup() => _bench = new NetBench(FrameSize, Mergeable);

    /// <summary>1024 frames.</summary>
    [Benchmark(OperationsPerInvoke = 1024)]
    public long Frames() => _bench!.Run(1024, 0).Failed;

    /// <inheritdoc/>
    [GlobalCleanup]
    public void Dispose()
    {
        _bench?.Dispose();
        GC.SuppressFinalize(this);
    }
}
