using Microsoft.Extensions.Logging;
using Virtio.Device;

namespace Virtio.Diagnostics.Watchdog;

/// <summary>A <see cref="QueueWatchdog"/> over every queue of a device, explaining each stall with <see cref="LiveHangDiagnosis"/>.</summary>
public static class DeviceWatchdog
{
    /// <summary>
    /// Starts watching <paramref name="device"/>'s queues: a queue with work outstanding and no progress for
    /// <paramref name="stallTimeout"/> is logged (<c>virtio_queue_stalled</c>) with the walk-through of the three
    /// questions and the verdict. With EVENT_IDX, the driver's <c>used_event</c> stands for what it consumed.
    /// </summary>
    public static QueueWatchdog Start(VirtioDevice device, TimeSpan stallTimeout, ILogger? logger, TimeSpan? checkPeriod = null)
    {
        ArgumentNullException.ThrowIfNull(device);
        var watchdog = new QueueWatchdog(
            new QueueWatchdogOptions
            {
                StallTimeout = stallTimeout,
                CheckPeriod = checkPeriod ?? TimeSpan.FromTicks(Math.Max(stallTimeout.Ticks / 4, TimeSpan.TicksPerMillisecond * 10)),
                Diagnose = LiveHangDiagnosis.For(device),
            },
            logger);
        foreach (VirtioQueue queue in device.Queues)
        {
            watchdog.Watch(queue.Ring);
        }

        return watchdog;
    }
}
