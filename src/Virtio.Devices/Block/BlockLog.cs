using Microsoft.Extensions.Logging;

namespace Virtio.Devices.Block;

/// <summary>Source-generated log events of virtio-blk, named after QEMU's trace events.</summary>
internal static partial class BlockLog
{
    [LoggerMessage(EventId = 100, EventName = "virtio_blk_req_complete", Level = LogLevel.Trace, Message = "{Device} queue {Queue} head {Head}: {Type} complete, status {Status}")]
    public static partial void ReqComplete(ILogger logger, string device, int queue, ushort head, VirtioBlkRequestType type, byte status);

    [LoggerMessage(EventId = 101, EventName = "virtio_blk_handle_write", Level = LogLevel.Trace, Message = "{Device} queue {Queue}: write sector {Sector} nsectors {Sectors}")]
    public static partial void HandleWrite(ILogger logger, string device, int queue, ulong sector, ulong sectors);

    [LoggerMessage(EventId = 102, EventName = "virtio_blk_handle_read", Level = LogLevel.Trace, Message = "{Device} queue {Queue}: read sector {Sector} nsectors {Sectors}")]
    public static partial void HandleRead(ILogger logger, string device, int queue, ulong sector, ulong sectors);

    [LoggerMessage(EventId = 103, EventName = "virtio_blk_bad_request", Level = LogLevel.Debug, Message = "{Device} queue {Queue} head {Head}: {Type} failed with status {Status}: {Reason}")]
    public static partial void BadRequest(ILogger logger, string device, int queue, ushort head, VirtioBlkRequestType type, byte status, string reason);

    [LoggerMessage(EventId = 104, EventName = "virtio_blk_backend_failed", Level = LogLevel.Error, Message = "{Device} queue {Queue} head {Head}: the backend threw from {EntryPoint}; the device is broken")]
    public static partial void BackendFailed(ILogger logger, string device, int queue, ushort head, string entryPoint, Exception exception);

    [LoggerMessage(EventId = 105, EventName = "virtio_blk_backend_double_complete", Level = LogLevel.Error, Message = "{Device} queue {Queue} head {Head}: the backend completed a request that was not outstanding; ignored")]
    public static partial void BackendDoubleComplete(ILogger logger, string device, int queue, ushort head);
}
