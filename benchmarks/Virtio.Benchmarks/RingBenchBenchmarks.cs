using BenchmarkDotNet.Attributes;
using Virtio.Workloads.Bench;

namespace Virtio.Benchmarks;

/// <summary>
/// The loop of <c>virtio bench ring --threads 1</c> itself (<see cref="RingBench"/>), so BenchmarkDotNet and the command
/// measure the same code: 16384 buffers per invocation, whose queue set-up is amortised over them.
/// </summary>
[MemoryDiagnoser]
public class RingBenchBenchmarks : IDisposable
{
    private const int Buffers = 16384;
    private RingBench? _bench;

    /// <summary>Negotiate VIRTIO_RING_F_EVENT_IDX.</summary>
    [Params(true, false)]
    public bool EventIdx { get; set; }

    /// <summary>Buffers per kick decision and per flush.</summary>
    [Params(1, 32)]
    public int Batch { get; set; }

    /// <summary>Move each batch through the burst API (<c>virtio bench ring --burst true</c>).</summary>
    [Params(false, true)]
    public bool Burst { get; set; }

    /// <summary>Sets up guest memory and the ring layout.</summary>
    [GlobalSetup]
    public void Setup() => _bench = new RingBench(new RingBenchOptions { Threads = 1, Buffers = Buffers, EventIdx = EventIdx, Batch = Batch, Burst = Burst });

    /// <summary>16384 buffers through one ring, driver and device on this thread.</summary>
    [Benchmark(OperationsPerInvoke = Buffers)]
    public long Ring() => _bench!.Run(warmup: 0).Kicks;

    /// <inheritdoc/>
    [GlobalCleanup]
    public void Dispose()
    {
        _bench?.Dispose();
        GC.SuppressFinalize(this);
    }
}
