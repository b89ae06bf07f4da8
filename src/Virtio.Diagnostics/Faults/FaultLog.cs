using System.Globalization;
using System.Text;

namespace Virtio.Diagnostics.Faults;

/// <summary>
/// The most recent faults a <see cref="FaultyEventNotifier"/> injected, in order, bounded so a long run cannot grow
/// it: a scenario prints it as a table next to the hang analysis.
/// </summary>
/// <remarks>Thread-safe. Recording allocates nothing (a fixed array reused as a ring).</remarks>
public sealed class FaultLog
{
    private readonly object _gate = new();
    private readonly FaultLogEntry[] _entries;
    private long _total;

    /// <summary>Creates a log that keeps the last <paramref name="capacity"/> entries.</summary>
    public FaultLog(int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(capacity);
        _entries = new FaultLogEntry[capacity];
    }

    /// <summary>How many entries the log keeps.</summary>
    public int Capacity => _entries.Length;

    /// <summary>How many faults were recorded in all, including those no longer kept.</summary>
    public long TotalRecorded
    {
        get
        {
            lock (_gate)
            {
                return _total;
            }
        }
    }

    /// <summary>The kept entries, oldest first.</summary>
    public FaultLogEntry[] ToArray()
    {
        lock (_gate)
        {
            int kept = (int)Math.Min(_total, _entries.Length);
            var result = new FaultLogEntry[kept];
            long first = _total - kept;
            for (int i = 0; i < kept; i++)
            {
                result[i] = _entries[(int)((first + i) % _entries.Length)];
            }

            return result;
        }
    }

    /// <summary>A two-column table (<c>signal</c>, <c>fault</c>), oldest first, with a note when entries were discarded.</summary>
    public override string ToString()
    {
        FaultLogEntry[] entries = ToArray();
        var text = new StringBuilder();
        text.AppendLine("signal  fault");
        long earlier = TotalRecorded - entries.Length;
        if (earlier > 0)
        {
            text.Append(CultureInfo.InvariantCulture, $"({earlier} earlier faults not kept)").AppendLine();
        }

        foreach (FaultLogEntry entry in entries)
        {
            text.Append(CultureInfo.InvariantCulture, $"{entry.Signal,6}  {entry.Action.ToString().ToLowerInvariant()}").AppendLine();
        }

        return text.ToString();
    }

    internal void Record(long signal, SignalFaultAction action)
    {
        if (_entries.Length == 0)
        {
            Interlocked.Increment(ref _total);
            return;
        }

        lock (_gate)
        {
            _entries[(int)(_total % _entries.Length)] = new FaultLogEntry(signal, action);
            _total++;
        }
    }
}
