using Microsoft.Extensions.Time.Testing;
using Virtio.Diagnostics.Tests.Support;
using Virtio.Diagnostics.Watchdog;

namespace Virtio.Diagnostics.Tests.Watchdog;

[Collection(MeterCollection.Name)]
public class QueueWatchdogMeterTests
{
    [Fact]
    public void Each_stall_is_counted_once_tagged_with_its_device_and_queue()
    {
        using var stalls = new MeasurementRecorder("virtio.watchdog.stalls", "device", "virtio-meter-test");
        var time = new FakeTimeProvider();
        var queue = new ScriptedQueue("virtio-meter-test", 3);
        queue.MakeAvailable();
        using var watchdog = new QueueWatchdog(new QueueWatchdogOptions { TimeProvider = time, StallTimeout = TimeSpan.FromSeconds(10), CheckPeriod = TimeSpan.Zero });
        watchdog.Watch(queue);

        watchdog.Check();
        time.Advance(TimeSpan.FromSeconds(10));
        watchdog.Check();
        watchdog.Check();

        (long value, Dictionary<string, object?> tags) = Assert.Single(stalls.Measurements);
        Assert.Equal(1, value);
        Assert.Equal(3, tags["queue"]);
    }
}
