using System.Diagnostics.Metrics;

namespace Virtio.Diagnostics.Faults;

/// <summary>Metrics of fault injection (meter <c>Virtio.Diagnostics</c>).</summary>
internal static class FaultMetrics
{
    public const string MeterName = "Virtio.Diagnostics";

    public static readonly Meter Meter = new(MeterName);

    /// <summary>Signals seen by fault-injecting channels, tagged <c>channel</c> and <c>action</c> (what was done to each).</summary>
    public static readonly Counter<long> Signals = Meter.CreateCounter<long>(
        "virtio.fault.signals", description: "Signals seen by fault-injecting channels, by the action taken");

    /// <summary>Signals passed on to the inner channel (duplicates and released delays included), tagged <c>channel</c>.</summary>
    public static readonly Counter<long> Deliveries = Meter.CreateCounter<long>(
        "virtio.fault.deliveries", description: "Signals passed on to the inner channel of fault-injecting channels");
}
