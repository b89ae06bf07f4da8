using Microsoft.Extensions.Logging;

namespace Virtio.Diagnostics.Watchdog;

/// <summary>Source-generated log events of the watchdog, in the style of QEMU's trace events.</summary>
internal static partial class WatchdogLog
{
    [LoggerMessage(EventId = 100, EventName = "virtio_queue_stalled", Level = LogLevel.Warning,
        Message = "{Device} queue {Queue}: no progress for {StalledMs} ms with work outstanding: {Diagnosis}")]
    public static partial void QueueStalled(ILogger logger, string device, int queue, long stalledMs, string diagnosis);

    [LoggerMessage(EventId = 101, EventName = "virtio_queue_progress_resumed", Level = LogLevel.Information,
        Message = "{Device} queue {Queue}: progress resumed ({Progress})")]
    public static partial void ProgressResumed(ILogger logger, string device, int queue, QueueProgress progress);

    [LoggerMessage(EventId = 102, EventName = "virtio_watchdog_check_failed", Level = LogLevel.Error,
        Message = "Watchdog check failed")]
    public static partial void CheckFailed(ILogger logger, Exception exception);
}
