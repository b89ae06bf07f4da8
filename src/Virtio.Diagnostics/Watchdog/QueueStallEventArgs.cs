namespace Virtio.Diagnostics.Watchdog;

/// <summary>A queue stopped making progress while work was outstanding (<see cref="QueueWatchdog.Stalled"/>).</summary>
public sealed class QueueStallEventArgs : EventArgs
{
    /// <summary>Creates the event data.</summary>
    public QueueStallEventArgs(IWatchedQueue queue, QueueProgress progress, TimeSpan stalledFor, string diagnosis)
    {
        Queue = queue;
        Progress = progress;
        StalledFor = stalledFor;
        Diagnosis = diagnosis;
    }

    /// <summary>The stalled queue.</summary>
    public IWatchedQueue Queue { get; }

    /// <summary>Its numbers at the check that found the stall.</summary>
    public QueueProgress Progress { get; }

    /// <summary>How long nothing had moved, as observed at that check.</summary>
    public TimeSpan StalledFor { get; }

    /// <summary>The diagnosis callback's text (by default, a summary of the numbers).</summary>
    public string Diagnosis { get; }
}
