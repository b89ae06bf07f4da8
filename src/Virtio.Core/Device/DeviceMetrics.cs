using System.Diagnostics.Metrics;
using Virtio.Rings;

namespace Virtio.Device;

/// <summary>Device framework instruments, on the core library's meter.</summary>
internal static class DeviceMetrics
{
    public static readonly Counter<long> Interrupts = RingMetrics.Meter.CreateCounter<long>(
        "virtio.device.interrupts", description: "Interrupts raised, by device and reason");

    public static readonly Counter<long> NeedsReset = RingMetrics.Meter.CreateCounter<long>(
        "virtio.device.needs_reset", description: "Devices that set DEVICE_NEEDS_RESET after a ring or protocol violation");

    public static readonly Counter<long> Resets = RingMetrics.Meter.CreateCounter<long>(
        "virtio.device.resets", description: "Device resets");
}
