using Microsoft.Extensions.Logging;

namespace Virtio.Devices.Net;

/// <summary>Source-generated log events of the stream and pcap backends (QEMU's <c>net_stream_*</c> and <c>filter-dump</c> wording).</summary>
internal static partial class NetBackendLog
{
    [LoggerMessage(EventId = 200, EventName = "net_stream_error", Level = LogLevel.Error, Message = "stream backend: receive stopped: {Problem}")]
    public static partial void ReceiveFailed(ILogger logger, string problem, Exception exception);

    [LoggerMessage(EventId = 201, EventName = "net_stream_eof", Level = LogLevel.Information, Message = "stream backend: peer closed the stream after {Frames} frame(s)")]
    public static partial void EndOfStream(ILogger logger, long frames);

    [LoggerMessage(EventId = 202, EventName = "net_stream_send_error", Level = LogLevel.Error, Message = "stream backend: send failed, frames from now on are discarded")]
    public static partial void TransmitFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 203, EventName = "net_stream_send_closed", Level = LogLevel.Information, Message = "stream backend: the peer stopped reading, frames from now on are discarded")]
    public static partial void TransmitClosed(ILogger logger);

    [LoggerMessage(EventId = 204, EventName = "net_stream_send_busy", Level = LogLevel.Trace, Message = "stream backend: flush pending, transmit refused until it completes")]
    public static partial void TransmitBusy(ILogger logger);

    [LoggerMessage(EventId = 210, EventName = "filter_dump_error", Level = LogLevel.Error, Message = "pcap backend: writing the capture failed after {Frames} frame(s); capture stopped, the data path goes on")]
    public static partial void CaptureFailed(ILogger logger, long frames, Exception exception);
}
