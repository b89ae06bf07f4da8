using System.Globalization;
using Microsoft.Extensions.Logging;
using Virtio.Rings;

namespace Virtio.Diagnostics.Watchdog;

/// <summary>
/// Notices queues that stop making progress while work is outstanding. Each check reads every watched queue's
/// <see cref="QueueProgress"/>; when work is outstanding and nothing has moved for
/// <see cref="QueueWatchdogOptions.StallTimeout"/>, it reports the stall once: the diagnosis callback, a
/// <c>virtio_queue_stalled</c> warning, the <see cref="Stalled"/> event and the <c>virtio.watchdog.stalls</c> counter.
/// It re-arms when the queue moves again or falls idle.
/// </summary>
/// <remarks>
/// <para>An idle queue (nothing outstanding) is never reported, however long it sleeps; nor is a slow one that keeps
/// moving. The watchdog only reads; it never changes a queue.</para>
/// <para>Checks run on the timer (every <see cref="QueueWatchdogOptions.CheckPeriod"/>) or when the owner calls
/// <see cref="Check"/>; they are serialized. <see cref="Stalled"/> handlers run on the checking thread.</para>
/// </remarks>
public sealed class QueueWatchdog : IDisposable
{
    private readonly object _gate = new();
    private readonly List<WatchState> _watches = [];
    private readonly TimeProvider _time;
    private readonly TimeSpan _timeout;
    private readonly Func<IWatchedQueue, string>? _diagnose;
    private readonly ILogger? _logger;
    private readonly WatchdogMetrics _metrics;
    private ITimer? _timer;
    private long _stalls;

    /// <summary>Creates a watchdog; with a positive check period its timer starts at once.</summary>
    /// <param name="options">The settings (null: the defaults).</param>
    /// <param name="logger">Receives <c>virtio_queue_stalled</c> warnings; null logs nothing.</param>
    public QueueWatchdog(QueueWatchdogOptions? options = null, ILogger? logger = null)
    {
        options ??= new QueueWatchdogOptions();
        _time = options.TimeProvider;
        _timeout = options.StallTimeout;
        _diagnose = options.Diagnose;
        _logger = logger;
        _metrics = WatchdogMetrics.For(options.MeterFactory);
        TimeSpan period = options.CheckPeriod;
        if (period > TimeSpan.Zero && period != Timeout.InfiniteTimeSpan)
        {
            _timer = _time.CreateTimer(static s => ((QueueWatchdog)s!).OnTimer(), this, period, period);
        }
    }

    /// <summary>Raised once per stall, after the diagnosis and the log.</summary>
    public event EventHandler<QueueStallEventArgs>? Stalled;

    /// <summary>The stall timeout.</summary>
    public TimeSpan StallTimeout => _timeout;

    /// <summary>Stalls reported since creation.</summary>
    public long StallCount => Interlocked.Read(ref _stalls);

    /// <summary>The queues being watched.</summary>
    public IReadOnlyList<IWatchedQueue> Queues
    {
        get
        {
            lock (_gate)
            {
                return [.. _watches.Select(w => w.Queue)];
            }
        }
    }

    /// <summary>Starts watching <paramref name="queue"/>; its first check takes the baseline.</summary>
    public void Watch(IWatchedQueue queue)
    {
        ArgumentNullException.ThrowIfNull(queue);
        lock (_gate)
        {
            if (_watches.Exists(w => ReferenceEquals(w.Queue, queue)))
            {
                throw new ArgumentException($"{queue.Name} queue {queue.Index} is already watched", nameof(queue));
            }

            _watches.Add(new WatchState(queue));
        }
    }

    /// <summary>Starts watching a device-side split queue through a <see cref="SplitQueueWatch"/>.</summary>
    /// <param name="queue">The queue.</param>
    /// <param name="driverConsumed">Optional probe of the driver's consumption (see <see cref="SplitQueueWatch"/>).</param>
    /// <returns>The adapter, to pass to <see cref="Unwatch"/>.</returns>
    public SplitQueueWatch Watch(SplitQueue queue, Func<ushort>? driverConsumed = null)
    {
        var watch = new SplitQueueWatch(queue, driverConsumed);
        Watch(watch);
        return watch;
    }

    /// <summary>Stops watching <paramref name="queue"/>.</summary>
    /// <returns>False when it was not watched.</returns>
    public bool Unwatch(IWatchedQueue queue)
    {
        lock (_gate)
        {
            return _watches.RemoveAll(w => ReferenceEquals(w.Queue, queue)) > 0;
        }
    }

    /// <summary>Checks every watched queue now and reports the stalls found.</summary>
    /// <returns>How many stalls this check reported.</returns>
    public int Check()
    {
        lock (_gate)
        {
            List<QueueStallEventArgs>? stalls = null;
            long now = _time.GetTimestamp();
            foreach (WatchState watch in _watches)
            {
                QueueProgress progress = watch.Queue.ReadProgress();
                if (!progress.WorkOutstanding || !watch.HasBaseline || progress.HasMovedSince(watch.Baseline))
                {
                    // Idle or moving: the stall clock restarts here (a stall reported earlier is over).
                    if (watch.Reported && _logger is { } logger)
                    {
                        WatchdogLog.ProgressResumed(logger, watch.Queue.Name, watch.Queue.Index, progress);
                    }

                    watch.Rebase(progress, now);
                    continue;
                }

                TimeSpan stalledFor = _time.GetElapsedTime(watch.Since, now);
                if (!watch.Reported && stalledFor >= _timeout)
                {
                    watch.Reported = true;
                    (stalls ??= []).Add(new QueueStallEventArgs(watch.Queue, progress, stalledFor, string.Empty));
                }
            }

            if (stalls is null)
            {
                return 0;
            }

            // Reported under the lock, so a concurrent check cannot overtake this one; Monitor is re-entrant,
            // so a handler may still call Watch, Unwatch or Dispose.
            foreach (QueueStallEventArgs stall in stalls)
            {
                Report(stall);
            }

            return stalls.Count;
        }
    }

    /// <summary>Stops the timer; <see cref="Check"/> still works.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            _timer?.Dispose();
            _timer = null;
        }
    }

    /// <summary>The default diagnosis: the numbers, and which debt is outstanding.</summary>
    public static string Summarize(IWatchedQueue queue, in QueueProgress progress)
    {
        ArgumentNullException.ThrowIfNull(queue);
        return string.Create(
            CultureInfo.InvariantCulture,
            $"{queue.Name} queue {queue.Index}: {progress.NotPopped} not popped, {progress.InUse} in use, {progress.NotConsumed} not consumed ({progress})");
    }

    private void Report(QueueStallEventArgs found)
    {
        IWatchedQueue queue = found.Queue;
        string diagnosis;
        try
        {
            diagnosis = _diagnose is { } diagnose ? diagnose(queue) : Summarize(queue, found.Progress);
        }
#pragma warning disable CA1031 // a failing diagnosis must not hide the stall it was asked to explain
        catch (Exception ex)
#pragma warning restore CA1031
        {
            diagnosis = $"diagnosis failed ({ex.GetType().Name}: {ex.Message}); {Summarize(queue, found.Progress)}";
        }

        var stall = new QueueStallEventArgs(queue, found.Progress, found.StalledFor, diagnosis);
        Interlocked.Increment(ref _stalls);
        _metrics.Stalls.Add(
            1,
            new KeyValuePair<string, object?>("device", queue.Name),
            new KeyValuePair<string, object?>("queue", queue.Index));
        if (_logger is { } logger)
        {
            WatchdogLog.QueueStalled(logger, queue.Name, queue.Index, (long)stall.StalledFor.TotalMilliseconds, diagnosis);
        }

        Stalled?.Invoke(this, stall);
    }

    private void OnTimer()
    {
        try
        {
            Check();
        }
#pragma warning disable CA1031 // an exception on a timer thread would end the process; the watchdog logs it instead
        catch (Exception ex)
#pragma warning restore CA1031
        {
            if (_logger is { } logger)
            {
                WatchdogLog.CheckFailed(logger, ex);
            }
        }
    }

    private sealed class WatchState(IWatchedQueue queue)
    {
        public IWatchedQueue Queue { get; } = queue;

        /// <summary>The progress at the last check that saw movement or idleness.</summary>
        public QueueProgress Baseline { get; private set; }

        public bool HasBaseline { get; private set; }

        /// <summary>When <see cref="Baseline"/> was taken (<see cref="TimeProvider.GetTimestamp"/>).</summary>
        public long Since { get; private set; }

        /// <summary>Whether the current stall was already reported (once per stall).</summary>
        public bool Reported { get; set; }

        public void Rebase(in QueueProgress progress, long now)
        {
            Baseline = progress;
            HasBaseline = true;
            Since = now;
            Reported = false;
        }
    }
}
