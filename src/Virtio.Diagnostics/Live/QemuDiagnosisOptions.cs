using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Virtio.Diagnostics.Live;

/// <summary>Settings of a <see cref="QemuDiagnostics"/>.</summary>
public sealed class QemuDiagnosisOptions
{
    /// <summary>The QOM path of the one device to diagnose; null for every device <c>x-query-virtio</c> lists.</summary>
    public string? Path { get; init; }

    /// <summary>The one queue to diagnose; null for every queue of each device.</summary>
    public int? Queue
    {
        get;
        init
        {
            if (value is int q)
            {
                ArgumentOutOfRangeException.ThrowIfNegative(q);
                ArgumentOutOfRangeException.ThrowIfGreaterThan(q, ushort.MaxValue);
            }

            field = value;
        }
    }

    /// <summary>
    /// The time between the two readings of each queue (default 2 s): a queue that moved in between is progressing;
    /// only one that did not, with work outstanding, can be a hang. Under watch, the polling period.
    /// </summary>
    public TimeSpan Interval
    {
        get;
        init
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, TimeSpan.Zero);
            field = value;
        }
    } = TimeSpan.FromSeconds(2);

    /// <summary>The most element candidates listed for a stuck queue (default 16).</summary>
    public int MaxCandidates
    {
        get;
        init
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value);
            field = value;
        }
    } = 16;

    /// <summary>The clock the interval is waited on (default: the system's).</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>Where verdicts and their changes are logged.</summary>
    public ILogger Logger { get; init; } = NullLogger.Instance;
}
