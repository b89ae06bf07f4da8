using System.Diagnostics.Metrics;

namespace Virtio.Devices.Net;

/// <summary>virtio-net instruments, on the <c>Virtio.Devices</c> meter (tagged <c>device</c>, and <c>reason</c> for drops).</summary>
internal static class NetMetrics
{
    public static readonly Meter Meter = new("Virtio.Devices");

    public static readonly Counter<long> TxPackets = Meter.CreateCounter<long>("virtio.net.tx.packets", "{packet}", "Frames the driver sent that the backend took");

    public static readonly Counter<long> TxBytes = Meter.CreateCounter<long>("virtio.net.tx.bytes", "By", "Bytes of frames sent, without the virtio-net header");

    public static readonly Counter<long> RxPackets = Meter.CreateCounter<long>("virtio.net.rx.packets", "{packet}", "Frames placed into the driver's rx buffers");

    public static readonly Counter<long> RxBytes = Meter.CreateCounter<long>("virtio.net.rx.bytes", "By", "Bytes of frames received, without the virtio-net header");

    public static readonly Counter<long> Drops = Meter.CreateCounter<long>("virtio.net.drops", "{packet}", "Frames dropped, by reason");

    /// <summary>The <c>reason</c> tag of each <see cref="NetDropReason"/>, allocated once.</summary>
    public static readonly string[] ReasonTags =
    [
        "backlog_full", "rx_buffer_too_small", "filtered", "gso_not_negotiated", "link_down", "bad_header", "oversize", "runt", "reset", "short_read", "rx_buffer_shorter_than_header",
    ];
}
