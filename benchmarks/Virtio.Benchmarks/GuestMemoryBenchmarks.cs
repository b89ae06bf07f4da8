using BenchmarkDotNet.Attributes;
using Virtio.Memory;

namespace Virtio.Benchmarks;

/// <summary>Bounds-checked guest memory access: the one-region fast path and a binary search over eight regions.</summary>
[MemoryDiagnoser]
public class GuestMemoryBenchmarks
{
    private GuestMemory _one = null!;
    private GuestMemory _eight = null!;

    /// <summary>Creates the memories.</summary>
    [GlobalSetup]
    public void Setup()
    {
        _one = GuestMemory.Create(1 << 20);
        var regions = new GuestMemoryRegion[8];
        for (int i = 0; i < regions.Length; i++)
        {
            regions[i] = GuestMemoryRegion.Allocate((ulong)i << 24, 1 << 16);
        }

        _eight = new GuestMemory(regions);
    }

    /// <summary>Frees them.</summary>
    [GlobalCleanup]
    public void Cleanup()
    {
        _one.Dispose();
        _eight.Dispose();
    }

    /// <summary>Read a u64 from the single region.</summary>
    [Benchmark(Baseline = true)]
    public ulong ReadOneRegion() => _one.TryRead(0x8000, out ulong v) == GuestMemoryError.None ? v : 0;

    /// <summary>Read a u64 from the seventh of eight regions.</summary>
    [Benchmark]
    public ulong ReadEightRegions() => _eight.TryRead((6UL << 24) + 0x100, out ulong v) == GuestMemoryError.None ? v : 0;
}
