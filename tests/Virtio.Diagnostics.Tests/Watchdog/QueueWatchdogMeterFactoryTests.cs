using Microsoft.Extensions.Time.Testing;
using Virtio.Diagnostics.Tests.Support;
using Virtio.Diagnostics.Watchdog;
using Virtio.Testing;

namespace Virtio.Diagnostics.Tests.Watchdog;

public class QueueWatchdogMeterFactoryTests
{
    [Fact]
    public void Stalls_are_counted_on_the_hosts_meter()
    {
        using var meters = new RecordingMeterFactory();
        var time = new FakeTimeProvider();
        var queue = new ScriptedQueue("virtio-host-meter", 0);
        queue.MakeAvailable();
        using var watchdog = new QueueWatchdog(new QueueWatchdogOptions { TimeProvider = time, StallTimeout = TimeSpan.FromSeconds(10), CheckPeriod = TimeSpan.Zero, MeterFactory = meters });
        watchdog.Watch(queue);

        watchdog.Check();
        time.Advance(TimeSpan.FromSeconds(10));
        watchdog.Check();

        Assert.Equal(1, meters.Total("virtio.watchdog.stalls"));
        Assert.Equal(["Virtio.Diagnostics"], meters.MeterNames);
    }
}
