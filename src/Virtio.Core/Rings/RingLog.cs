using Microsoft.Extensions.Logging;

namespace Virtio.Rings;

/// <summary>Source-generated log events of the device side, named after QEMU's trace events.</summary>
internal static partial class RingLog
{
    [LoggerMessage(EventId = 1, EventName = "virtio_error", Level = LogLevel.Error, Message = "{Device} queue {Queue}: {Error}")]
    public static partial void VirtioError(ILogger logger, string device, int queue, string error);

    [LoggerMessage(EventId = 2, EventName = "virtqueue_pop", Level = LogLevel.Trace, Message = "{Device} queue {Queue}: pop head {Head} out_num {OutNum} in_num {InNum}")]
    public static partial void VirtqueuePop(ILogger logger, string device, int queue, ushort head, int outNum, int inNum);

    [LoggerMessage(EventId = 3, EventName = "virtqueue_flush", Level = LogLevel.Trace, Message = "{Device} queue {Queue}: flush {Count} used_idx {UsedIdx}")]
    public static partial void VirtqueueFlush(ILogger logger, string device, int queue, int count, ushort usedIdx);
}
