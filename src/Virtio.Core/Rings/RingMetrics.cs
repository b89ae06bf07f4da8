using System.Diagnostics.Metrics;

namespace Virtio.Rings;

/// <summary>
/// Instruments of the ring layer (meter <c>Virtio.Core</c>): on the library's own static meter by default, or on a
/// meter from the host's <see cref="IMeterFactory"/> (<see cref="Device.VirtioDeviceOptions.MeterFactory"/>).
/// </summary>
internal sealed class RingMetrics
{
    public const string MeterName = "Virtio.Core";

    /// <summary>The static meter used when the host gives no <see cref="IMeterFactory"/>.</summary>
    public static readonly Meter DefaultMeter = new(MeterName);

    public RingMetrics(Meter meter)
    {
        Errors = meter.CreateCounter<long>("virtio.ring.errors", description: "Virtqueues broken by a ring violation");
    }

    /// <summary>The instruments on <see cref="DefaultMeter"/>.</summary>
    public static RingMetrics Default { get; } = new(DefaultMeter);

    /// <summary>Queues broken by a driver, tagged with the rule (<c>kind</c>).</summary>
    public Counter<long> Errors { get; }

    /// <summary>The meter for instruments of the core library: the host's when it gave a factory, else <see cref="DefaultMeter"/>.</summary>
    public static Meter MeterFor(IMeterFactory? factory) => factory?.Create(MeterName) ?? DefaultMeter;
}
