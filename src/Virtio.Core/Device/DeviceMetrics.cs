using System.Diagnostics.Metrics;
using Virtio.Rings;

namespace Virtio.Device;

/// <summary>Device framework instruments, on the core library's meter (<see cref="RingMetrics.MeterFor"/>).</summary>
internal sealed class DeviceMetrics
{
    public DeviceMetrics(Meter meter)
    {
        Interrupts = meter.CreateCounter<long>("virtio.device.interrupts", description: "Interrupts raised, by device and reason");
        NeedsReset = meter.CreateCounter<long>("virtio.device.needs_reset", description: "Devices that set DEVICE_NEEDS_RESET after a ring or protocol violation");
        Resets = meter.CreateCounter<long>("virtio.device.resets", description: "Device resets");
    }

    /// <summary>The instruments on the static default meter.</summary>
    public static DeviceMetrics Default { get; } = new(RingMetrics.DefaultMeter);

    public Counter<long> Interrupts { get; }

    public Counter<long> NeedsReset { get; }

    public Counter<long> Resets { get; }
}
