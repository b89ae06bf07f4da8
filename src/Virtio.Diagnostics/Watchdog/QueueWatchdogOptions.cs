using System.Diagnostics.Metrics;

namespace Virtio.Diagnostics.Watchdog;

/// <summary>Settings of a <see cref="QueueWatchdog"/>.</summary>
public sealed class QueueWatchdogOptions
{
    /// <summary>How long a queue with work outstanding may go without progress before it is reported (default 5 s).</summary>
    public TimeSpan StallTimeout
    {
        get;
        init
        {
            ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(value, TimeSpan.Zero);
            field = value;
        }
    } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How often the timer checks (default 1 s). A stall is reported between <see cref="StallTimeout"/> and
    /// <see cref="StallTimeout"/> plus this after progress stopped. <see cref="TimeSpan.Zero"/> or
    /// <see cref="Timeout.InfiniteTimeSpan"/>: no timer, the owner calls <see cref="QueueWatchdog.Check"/>.
    /// </summary>
    public TimeSpan CheckPeriod { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>The clock and the timer (default: the system's).</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>Where the stall counter lives (meter <c>Virtio.Diagnostics</c>): the host's factory, or the static meter when null.</summary>
    public IMeterFactory? MeterFactory { get; init; }

    /// <summary>
    /// Explains a stall; its text goes to the event, the log and nothing else (the hang analysis plugs in here).
    /// Called once per stall, outside the watchdog's lock. Null: a summary of the numbers.
    /// </summary>
    public Func<IWatchedQueue, string>? Diagnose { get; init; }
}
