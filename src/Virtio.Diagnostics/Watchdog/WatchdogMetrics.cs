using System.Diagnostics.Metrics;

namespace Virtio.Diagnostics.Watchdog;

/// <summary>Metrics of the watchdog (meter <c>Virtio.Diagnostics</c>): the host's meter, or the static one.</summary>
internal sealed class WatchdogMetrics
{
    public const string MeterName = "Virtio.Diagnostics";

    private static readonly Meter DefaultMeter = new(MeterName);

    private WatchdogMetrics(Meter meter)
    {
        Stalls = meter.CreateCounter<long>("virtio.watchdog.stalls", description: "Queues that stopped making progress with work outstanding");
    }

    private static WatchdogMetrics Default { get; } = new(DefaultMeter);

    /// <summary>Stalls reported, tagged <c>device</c> and <c>queue</c>.</summary>
    public Counter<long> Stalls { get; }

    /// <summary>Instruments on the host's meter when it gave a factory, else the shared ones on the static meter.</summary>
    public static WatchdogMetrics For(IMeterFactory? factory) => factory is null ? Default : new(factory.Create(MeterName));
}
