using System.Diagnostics.Metrics;

namespace Virtio.Diagnostics.Watchdog;

/// <summary>Metrics of the watchdog (meter <c>Virtio.Diagnostics</c>).</summary>
internal static class WatchdogMetrics
{
    public static readonly Meter Meter = new("Virtio.Diagnostics");

    /// <summary>Stalls reported, tagged <c>device</c> and <c>queue</c>.</summary>
    public static readonly Counter<long> Stalls = Meter.CreateCounter<long>(
        "virtio.watchdog.stalls", description: "Queues that stopped making progress with work outstanding");
}
