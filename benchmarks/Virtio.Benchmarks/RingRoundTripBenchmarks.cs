using BenchmarkDotNet.Attributes;
using Virtio.Driver;
using Virtio.Memory;
using Virtio.Rings;

namespace Virtio.Benchmarks;

/// <summary>
/// One buffer through one split ring on one thread: driver add + kick decision, device pop + push + notify
/// decision, driver get. The same work as <c>virtio bench ring --threads 1</c> and <c>ringbase 1</c>.
/// </summary>
[MemoryDiagnoser]
public class RingRoundTripBenchmarks
{
    private const int Operations = 1024;
    private GuestMemory _memory = null!;
    private DriverQueue<int> _driver = null!;
    private SplitQueue _device = null!;
    private GuestSegment[] _segments = null!;

    /// <summary>Negotiate VIRTIO_RING_F_EVENT_IDX.</summary>
    [Params(true, false)]
    public bool EventIdx { get; set; }

    /// <summary>Driver callbacks and device notifications on (every completion updates used_event) or suppressed (polling).</summary>
    [Params(true, false)]
    public bool Notifications { get; set; }

    /// <summary>Builds the ring.</summary>
    [GlobalSetup]
    public void Setup()
    {
        _memory = GuestMemory.Create(0x20_0000);
        SplitRingLayout layout = SplitRingLayout.Create(0x1000, 256);
        _driver = new DriverQueue<int>(_memory, layout, new DriverQueueOptions { EventIdx = EventIdx });
        _device = new SplitQueue(_memory, 256)
        {
            DescriptorTableAddress = layout.DescriptorTable,
            AvailRingAddress = layout.AvailRing,
            UsedRingAddress = layout.UsedRing,
            EventIdx = EventIdx,
        };
        if (_device.Enable() is { } error)
        {
            throw new InvalidOperationException(error.ToString());
        }

        if (!Notifications)
        {
            _device.SetNotification(false);
            _driver.DisableCallbacks();
        }

        _segments = [new GuestSegment(0x10_0000, 64)];
    }

    /// <summary>Frees guest memory.</summary>
    [GlobalCleanup]
    public void Cleanup()
    {
        _device.Reset();
        _driver.Dispose();
        _memory.Dispose();
    }

    /// <summary>1024 round trips.</summary>
    [Benchmark(OperationsPerInvoke = Operations)]
    public int RoundTrip()
    {
        int sum = 0;
        for (int i = 0; i < Operations; i++)
        {
            _driver.Add(_segments, default, i);
            if (_driver.KickPrepare())
            {
                sum++;
            }

            _device.Pop(out DescriptorChain chain);
            _device.Push(chain.Head, chain.ReadableLength);
            if (_device.ShouldNotify())
            {
                sum++;
            }

            _driver.TryGetBuffer(out int token, out _);
            sum += token;
        }

        return sum;
    }
}
