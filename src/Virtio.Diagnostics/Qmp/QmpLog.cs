using Microsoft.Extensions.Logging;

namespace Virtio.Diagnostics.Qmp;

/// <summary>Source-generated log events of the QMP client (QEMU's own monitor trace events are named monitor_qmp_*).</summary>
internal static partial class QmpLog
{
    [LoggerMessage(EventId = 200, EventName = "qmp_connected", Level = LogLevel.Debug,
        Message = "QMP {Endpoint}: QEMU {Version}")]
    public static partial void Connected(ILogger logger, string endpoint, QemuVersion version);

    [LoggerMessage(EventId = 201, EventName = "monitor_qmp_cmd_in_band", Level = LogLevel.Debug,
        Message = "QMP -> {Command} (id {Id})")]
    public static partial void CommandSent(ILogger logger, string command, long id);

    [LoggerMessage(EventId = 202, EventName = "monitor_qmp_err_in_band", Level = LogLevel.Debug,
        Message = "QMP <- {Command}: error {ErrorClass}: {Description}")]
    public static partial void CommandFailed(ILogger logger, string command, string errorClass, string description);

    [LoggerMessage(EventId = 203, EventName = "monitor_protocol_event_emit", Level = LogLevel.Trace,
        Message = "QMP <- event {Event} (ignored while waiting for a reply)")]
    public static partial void EventIgnored(ILogger logger, System.Text.Json.JsonElement @event);
}
