using Microsoft.Extensions.Logging;

namespace Virtio.Diagnostics.Live;

/// <summary>Source-generated log events of the live diagnosis.</summary>
internal static partial class LiveLog
{
    [LoggerMessage(EventId = 300, EventName = "virtio_diagnose_verdict", Level = LogLevel.Information,
        Message = "{Summary}")]
    public static partial void Verdict(ILogger logger, string summary);

    [LoggerMessage(EventId = 301, EventName = "virtio_diagnose_element_failed", Level = LogLevel.Debug,
        Message = "{Device} queue {Queue}: x-query-virtio-queue-element at {Position} failed: {Reason}")]
    public static partial void ElementFailed(ILogger logger, string device, int queue, int position, string reason);
}
