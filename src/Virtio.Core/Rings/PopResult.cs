namespace Virtio.Rings;

/// <summary>What <see cref="SplitQueue.Pop"/> found.</summary>
public enum PopResult
{
    /// <summary>No available buffer (or the queue is not ready).</summary>
    Empty = 0,

    /// <summary>A valid descriptor chain was popped.</summary>
    Chain = 1,

    /// <summary>The queue is broken (see <see cref="SplitQueue.Error"/>) and refuses work until reset.</summary>
    Broken = 2,
}
