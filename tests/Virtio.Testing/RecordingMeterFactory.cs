using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace Virtio.Testing;

/// <summary>
/// A host's <see cref="IMeterFactory"/> (what dependency injection gives a hosted service) that also listens to the
/// meters it made, and only to those: a measurement it records cannot have come from a library's static meter.
/// </summary>
public sealed class RecordingMeterFactory : IMeterFactory
{
    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<string, long> _totals = new();
    private readonly ConcurrentBag<Meter> _meters = [];

    /// <summary>Starts listening.</summary>
    public RecordingMeterFactory()
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (ReferenceEquals(instrument.Meter.Scope, this))
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, _, _) => _totals.AddOrUpdate(instrument.Name, value, (_, total) => total + value));
        _listener.Start();
    }

    /// <summary>The names of the meters made so far.</summary>
    public IReadOnlyCollection<string> MeterNames => [.. _meters.Select(m => m.Name).Distinct()];

    /// <summary>The sum of the measurements of instrument <paramref name="name"/> on this factory's meters (0 when none).</summary>
    public long Total(string name) => _totals.GetValueOrDefault(name);

    /// <inheritdoc/>
    public Meter Create(MeterOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Scope = this;
        var meter = new Meter(options);
        _meters.Add(meter);
        return meter;
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        _listener.Dispose();
        foreach (Meter meter in _meters)
        {
            meter.Dispose();
        }
    }
}
