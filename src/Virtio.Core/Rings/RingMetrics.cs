using System.Diagnostics.Metrics;

namespace Virtio.Rings;

/// <summary>Metrics of the ring layer (meter <c>Virtio.Core</c>).</summary>
internal static class RingMetrics
{
    public static readonly Meter Meter = new("Virtio.Core");

    /// <summary>Queues broken by a driver, tagged with the rule (<c>kind</c>).</summary>
    public static readonly Counter<long> Errors = Meter.CreateCounter<long>("virtio.ring.errors", description: "Virtqueues broken by a ring violation");
}
