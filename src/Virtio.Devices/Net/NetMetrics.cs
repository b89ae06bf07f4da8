using System.Diagnostics.Metrics;

namespace Virtio.Devices.Net;

/// <summary>virtio-net instruments, on the <c>Virtio.Devices</c> meter (tagged <c>device</c>, and <c>reason</c> for drops).</summary>
internal sealed class NetMetrics
{
    public const string MeterName = "Virtio.Devices";

    /// <summary>The <c>reason</c> tag of each <see cref="NetDropReason"/>, allocated once.</summary>
    public static readonly string[] ReasonTags =
    [
        "backlog_full", "rx_buffer_too_small", "filtered", "gso_not_negotiated", "link_down", "bad_header", "oversize", "runt", "reset", "short_read", "rx_buffer_shorter_than_header",
    ];

    private static readonly Meter DefaultMeter = new(MeterName);

    private NetMetrics(Meter meter)
    {
        TxPackets = meter.CreateCounter<long>("virtio.net.tx.packets", "{packet}", "Frames the driver sent that the backend took");
        TxBytes = meter.CreateCounter<long>("virtio.net.tx.bytes", "By", "Bytes of frames sent, without the virtio-net header");
        RxPackets = meter.CreateCounter<long>("virtio.net.rx.packets", "{packet}", "Frames placed into the driver's rx buffers");
        RxBytes = meter.CreateCounter<long>("virtio.net.rx.bytes", "By", "Bytes of frames received, without the virtio-net header");
        Drops = meter.CreateCounter<long>("virtio.net.drops", "{packet}", "Frames dropped, by reason");
    }

    private static NetMetrics Default { get; } = new(DefaultMeter);

    public Counter<long> TxPackets { get; }

    public Counter<long> TxBytes { get; }

    public Counter<long> RxPackets { get; }

    public Counter<long> RxBytes { get; }

    public Counter<long> Drops { get; }

    /// <summary>Instruments on the host's meter when it gave a factory, else the shared ones on the static meter.</summary>
    public static NetMetrics For(IMeterFactory? factory) => factory is null ? Default : new(factory.Create(MeterName));
}
