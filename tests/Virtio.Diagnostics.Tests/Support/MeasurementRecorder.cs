using System.Diagnostics.Metrics;

namespace Virtio.Diagnostics.Tests.Support;

/// <summary>
/// Records the measurements of one instrument of the <c>Virtio.Diagnostics</c> meter whose tag
/// <paramref name="tagName"/> equals <paramref name="tagValue"/>, so tests in parallel do not see each other's.
/// </summary>
internal sealed class MeasurementRecorder : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly List<(long Value, Dictionary<string, object?> Tags)> _measurements = [];

    public MeasurementRecorder(string instrument, string tagName, object tagValue)
    {
        _listener.InstrumentPublished = (i, l) =>
        {
            if (i.Meter.Name == "Virtio.Diagnostics" && i.Name == instrument)
            {
                l.EnableMeasurementEvents(i);
            }
        };
        _listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            foreach (KeyValuePair<string, object?> tag in tags)
            {
                if (tag.Key == tagName && Equals(tag.Value, tagValue))
                {
                    var all = new Dictionary<string, object?>();
                    foreach (KeyValuePair<string, object?> t in tags)
                    {
                        all[t.Key] = t.Value;
                    }

                    lock (_measurements)
                    {
                        _measurements.Add((value, all));
                    }

                    return;
                }
            }
        });
        _listener.Start();
    }

    public IReadOnlyList<(long Value, Dictionary<string, object?> Tags)> Measurements
    {
        get
        {
            lock (_measurements)
            {
                return [.. _measurements];
            }
        }
    }

    /// <summary>The sum of the recorded values whose tag <paramref name="name"/> is <paramref name="value"/>.</summary>
    public long Sum(string name, object value) => Measurements.Where(m => Equals(m.Tags[name], value)).Sum(m => m.Value);

    public void Dispose() => _listener.Dispose();
}
