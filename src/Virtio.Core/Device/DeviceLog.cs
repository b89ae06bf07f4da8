using Microsoft.Extensions.Logging;

namespace Virtio.Device;

/// <summary>Source-generated log events of the device framework, named after QEMU's trace events.</summary>
internal static partial class DeviceLog
{
    [LoggerMessage(EventId = 20, EventName = "virtio_set_status", Level = LogLevel.Debug, Message = "{Device}: set status {Old} -> {New}")]
    public static partial void SetStatus(ILogger logger, string device, DeviceStatus old, DeviceStatus @new);

    [LoggerMessage(EventId = 21, EventName = "virtio_error", Level = LogLevel.Error, Message = "{Device}: {Error} (DEVICE_NEEDS_RESET)")]
    public static partial void DeviceError(ILogger logger, string device, string error);

    [LoggerMessage(EventId = 22, EventName = "virtio_features_refused", Level = LogLevel.Warning, Message = "{Device}: FEATURES_OK refused: {Reason}")]
    public static partial void FeaturesRefused(ILogger logger, string device, string reason);

    [LoggerMessage(EventId = 23, EventName = "virtio_reset", Level = LogLevel.Debug, Message = "{Device}: reset")]
    public static partial void Reset(ILogger logger, string device);

    [LoggerMessage(EventId = 24, EventName = "virtio_reset_drain_timeout", Level = LogLevel.Error, Message = "{Device}: reset gave up waiting for {Count} request(s) still in the backend after {Timeout}; their completions will be discarded")]
    public static partial void ResetDrainTimeout(ILogger logger, string device, int count, TimeSpan timeout);

    [LoggerMessage(EventId = 25, EventName = "virtio_driver_error", Level = LogLevel.Warning, Message = "{Device}: driver error ignored: {Error}")]
    public static partial void DriverError(ILogger logger, string device, string error);

    [LoggerMessage(EventId = 26, EventName = "virtio_notify", Level = LogLevel.Trace, Message = "{Device}: interrupt {Reason}")]
    public static partial void Notify(ILogger logger, string device, InterruptReason reason);

    [LoggerMessage(EventId = 27, EventName = "virtio_handler_failed", Level = LogLevel.Error, Message = "{Device} queue {Queue}: the device model's handler threw; the device is broken")]
    public static partial void HandlerFailed(ILogger logger, string device, int queue, Exception exception);
}
