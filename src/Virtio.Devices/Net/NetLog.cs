using Microsoft.Extensions.Logging;

namespace Virtio.Devices.Net;

/// <summary>Source-generated virtio-net log events, named after QEMU's trace events where QEMU has one.</summary>
internal static partial class NetLog
{
    [LoggerMessage(EventId = 100, EventName = "virtio_net_drop", Level = LogLevel.Debug, Message = "{Device}: queue pair {Pair}: dropped a {Length}-byte frame: {Reason}")]
    public static partial void Drop(ILogger logger, string device, int pair, int length, NetDropReason reason);

    [LoggerMessage(EventId = 101, EventName = "virtio_net_bad_header", Level = LogLevel.Warning, Message = "{Device}: tx queue pair {Pair}: {Problem}; frame dropped")]
    public static partial void BadHeader(ILogger logger, string device, int pair, string problem);

    [LoggerMessage(EventId = 102, EventName = "virtio_net_handle_announce", Level = LogLevel.Debug, Message = "{Device}: announce {State}")]
    public static partial void Announce(ILogger logger, string device, string state);

    [LoggerMessage(EventId = 103, EventName = "virtio_net_ctrl", Level = LogLevel.Debug, Message = "{Device}: ctrl class {Class} command {Command}: {Ack}")]
    public static partial void Control(ILogger logger, string device, byte @class, byte command, string ack);

    [LoggerMessage(EventId = 104, EventName = "virtio_net_set_queue_pairs", Level = LogLevel.Debug, Message = "{Device}: {Pairs} queue pair(s) active")]
    public static partial void SetQueuePairs(ILogger logger, string device, int pairs);

    [LoggerMessage(EventId = 105, EventName = "virtio_net_set_link_status", Level = LogLevel.Debug, Message = "{Device}: link {State}")]
    public static partial void LinkStatus(ILogger logger, string device, string state);

    [LoggerMessage(EventId = 106, EventName = "virtio_net_tx_busy", Level = LogLevel.Trace, Message = "{Device}: tx queue pair {Pair}: backend busy, chain {Head} held")]
    public static partial void TxBusy(ILogger logger, string device, int pair, ushort head);

    [LoggerMessage(EventId = 107, EventName = "virtio_net_backend_failed", Level = LogLevel.Error, Message = "{Device}: the backend threw from {EntryPoint} during reset")]
    public static partial void BackendFailed(ILogger logger, string device, string entryPoint, Exception exception);
}
