namespace Virtio.Diagnostics.Watchdog;

/// <summary>A queue a <see cref="QueueWatchdog"/> can watch: a name, an index, and its progress numbers on demand.</summary>
/// <remarks><see cref="ReadProgress"/> is called from the watchdog's timer thread, concurrently with the queue's worker.</remarks>
public interface IWatchedQueue
{
    /// <summary>The device name (QEMU's <c>name</c>, such as <c>virtio-blk</c>).</summary>
    string Name { get; }

    /// <summary>The queue's index within its device (QEMU's <c>queue-index</c>).</summary>
    int Index { get; }

    /// <summary>Reads the queue's progress numbers as they are now, without changing anything.</summary>
    QueueProgress ReadProgress();
}
