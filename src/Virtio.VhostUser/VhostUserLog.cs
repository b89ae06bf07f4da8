using Microsoft.Extensions.Logging;

namespace Virtio.VhostUser;

/// <summary>Source-generated log events of the vhost-user back-end, named after QEMU's vhost-user trace events where one exists.</summary>
internal static partial class VhostUserLog
{
    [LoggerMessage(EventId = 120, EventName = "vhost_user_read", Level = LogLevel.Debug, Message = "{Name}: request {Request} ({Code}) flags 0x{Flags:x} size {Size} fds {Fds}")]
    public static partial void Read(ILogger logger, string name, VhostUserRequest request, uint code, uint flags, int size, int fds);

    [LoggerMessage(EventId = 121, EventName = "vhost_user_protocol_error", Level = LogLevel.Warning, Message = "{Name}: {Request} refused: {Error}")]
    public static partial void Refused(ILogger logger, string name, VhostUserRequest request, string error);

    [LoggerMessage(EventId = 122, EventName = "vhost_user_connection_closed", Level = LogLevel.Warning, Message = "{Name}: connection closed: {Reason}")]
    public static partial void ConnectionClosed(ILogger logger, string name, string reason);

    [LoggerMessage(EventId = 123, EventName = "vhost_user_connected", Level = LogLevel.Information, Message = "{Name}: front-end connected")]
    public static partial void Connected(ILogger logger, string name);

    [LoggerMessage(EventId = 124, EventName = "vhost_user_disconnected", Level = LogLevel.Information, Message = "{Name}: front-end disconnected ({Messages} messages)")]
    public static partial void Disconnected(ILogger logger, string name, long messages);

    [LoggerMessage(EventId = 125, EventName = "vhost_user_set_mem_table_withfd", Level = LogLevel.Debug, Message = "{Name}: region gpa 0x{Gpa:x} size 0x{Size:x} userspace 0x{User:x} offset 0x{Offset:x} mapped")]
    public static partial void RegionMapped(ILogger logger, string name, ulong gpa, ulong size, ulong user, ulong offset);

    [LoggerMessage(EventId = 126, EventName = "vhost_user_ring_started", Level = LogLevel.Information, Message = "{Name}: ring {Queue} started: size {Num}, base {Base}, desc 0x{Desc:x} avail 0x{Avail:x} used 0x{Used:x} (guest-physical)")]
    public static partial void RingStarted(ILogger logger, string name, int queue, int num, ushort @base, ulong desc, ulong avail, ulong used);

    [LoggerMessage(EventId = 127, EventName = "vhost_user_ring_stopped", Level = LogLevel.Information, Message = "{Name}: ring {Queue} stopped at last_avail_idx {Base}")]
    public static partial void RingStopped(ILogger logger, string name, int queue, ushort @base);

    [LoggerMessage(EventId = 128, EventName = "vhost_user_ring_drain_timeout", Level = LogLevel.Error, Message = "{Name}: ring {Queue} stopped with {Count} request(s) still in flight after {Timeout}; they are lost to the guest")]
    public static partial void DrainTimeout(ILogger logger, string name, int queue, int count, TimeSpan timeout);

    [LoggerMessage(EventId = 129, EventName = "vhost_user_bad_kick", Level = LogLevel.Warning, Message = "{Name}: ring {Queue}'s kick descriptor is not a readable eventfd; it is no longer polled")]
    public static partial void BadKick(ILogger logger, string name, int queue);

    [LoggerMessage(EventId = 130, EventName = "vhost_user_handler_failed", Level = LogLevel.Error, Message = "{Name}: internal error")]
    public static partial void InternalError(ILogger logger, string name, Exception exception);

    [LoggerMessage(EventId = 131, EventName = "vhost_user_unsupported", Level = LogLevel.Warning, Message = "{Name}: unsupported request {Request} ({Code}) ignored")]
    public static partial void Unsupported(ILogger logger, string name, VhostUserRequest request, uint code);

    [LoggerMessage(EventId = 132, EventName = "vhost_user_inflight_resubmit", Level = LogLevel.Information, Message = "{Name}: ring {Queue} resubmits {Count} request(s) the last back-end left in flight (used->idx {UsedIdx})")]
    public static partial void InflightResubmit(ILogger logger, string name, int queue, int count, ushort usedIdx);
}
