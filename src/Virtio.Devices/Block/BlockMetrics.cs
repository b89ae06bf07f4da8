using System.Diagnostics.Metrics;

namespace Virtio.Devices.Block;

/// <summary>virtio-blk instruments (meter <c>Virtio.Devices</c>), tagged with the device name and request type.</summary>
internal static class BlockMetrics
{
    public static readonly Meter Meter = new("Virtio.Devices");

    public static readonly Counter<long> Requests = Meter.CreateCounter<long>("virtio.blk.requests", description: "Requests completed, by type");

    public static readonly Counter<long> Bytes = Meter.CreateCounter<long>("virtio.blk.bytes", unit: "By", description: "Bytes read or written, by type");

    public static readonly Counter<long> Errors = Meter.CreateCounter<long>("virtio.blk.errors", description: "Requests completed with a status other than OK, by status");

    public static readonly UpDownCounter<long> InFlight = Meter.CreateUpDownCounter<long>("virtio.blk.in_flight", description: "Requests submitted to the backend and not yet completed");
}
