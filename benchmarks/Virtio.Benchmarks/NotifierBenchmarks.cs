using BenchmarkDotNet.Attributes;
using Virtio.Notifications;

namespace Virtio.Benchmarks;

/// <summary>The cost of a kick or call when nobody sleeps: one signal and the consumer's test-and-clear.</summary>
[MemoryDiagnoser]
public class NotifierBenchmarks
{
    private readonly EventNotifier _notifier = new();

    /// <summary>Signal then TestAndClear.</summary>
    [Benchmark]
    public ulong SignalAndClear()
    {
        _notifier.Signal();
        return _notifier.TestAndClear();
    }

    /// <summary>WaitAsync on a notifier already signalled (the synchronous completion path).</summary>
    [Benchmark]
    public async ValueTask<ulong> WaitAsyncWhenSet()
    {
        _notifier.Signal();
        await _notifier.WaitAsync();
        return _notifier.TestAndClear();
    }
}
