using System.Diagnostics.Metrics;

namespace Virtio.Devices.Block;

/// <summary>virtio-blk instruments (meter <c>Virtio.Devices</c>), tagged with the device name and request type.</summary>
internal sealed class BlockMetrics
{
    public const string MeterName = "Virtio.Devices";

    private static readonly Meter DefaultMeter = new(MeterName);

    private BlockMetrics(Meter meter)
    {
        Requests = meter.CreateCounter<long>("virtio.blk.requests", description: "Requests completed, by type");
        Bytes = meter.CreateCounter<long>("virtio.blk.bytes", unit: "By", description: "Bytes read or written, by type");
        Errors = meter.CreateCounter<long>("virtio.blk.errors", description: "Requests completed with a status other than OK, by status");
        InFlight = meter.CreateUpDownCounter<long>("virtio.blk.in_flight", description: "Requests submitted to the backend and not yet completed");
    }

    private static BlockMetrics Default { get; } = new(DefaultMeter);

    public Counter<long> Requests { get; }

    public Counter<long> Bytes { get; }

    public Counter<long> Errors { get; }

    public UpDownCounter<long> InFlight { get; }

    /// <summary>Instruments on the host's meter when it gave a factory, else the shared ones on the static meter.</summary>
    public static BlockMetrics For(IMeterFactory? factory) => factory is null ? Default : new(factory.Create(MeterName));
}
