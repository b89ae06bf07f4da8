using Microsoft.Extensions.Logging;

namespace Virtio.Transport;

/// <summary>Source-generated log events of the virtio-mmio transport, named after QEMU's trace events.</summary>
internal static partial class MmioLog
{
    [LoggerMessage(EventId = 40, EventName = "virtio_mmio_read", Level = LogLevel.Trace, Message = "{Device}: read 0x{Offset:x}")]
    public static partial void Read(ILogger logger, string device, ulong offset);

    [LoggerMessage(EventId = 41, EventName = "virtio_mmio_write_offset", Level = LogLevel.Trace, Message = "{Device}: write 0x{Offset:x} value 0x{Value:x}")]
    public static partial void Write(ILogger logger, string device, ulong offset, ulong value);

    [LoggerMessage(EventId = 42, EventName = "virtio_mmio_guest_error", Level = LogLevel.Warning, Message = "{Device}: {Error} (offset 0x{Offset:x}, size {Size}); ignored")]
    public static partial void GuestError(ILogger logger, string device, string error, ulong offset, int size);

    [LoggerMessage(EventId = 43, EventName = "virtio_mmio_queue_write", Level = LogLevel.Warning, Message = "{Device}: queue {Queue} size {Value} refused (max {Max})")]
    public static partial void QueueNumRefused(ILogger logger, string device, int queue, ulong value, int max);
}
