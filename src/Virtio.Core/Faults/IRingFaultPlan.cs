namespace Virtio.Faults;

/// <summary>
/// Decides, at each <see cref="RingFaultPoint"/>, whether a ring side misbehaves this time. Set one on a queue to
/// reproduce a hang on purpose; with none set (the default) every fault point costs one null check.
/// </summary>
/// <remarks>Called on the thread that runs the ring side; implementations must be deterministic for a given seed.</remarks>
public interface IRingFaultPlan
{
    /// <summary>True to inject the fault at <paramref name="point"/> now.</summary>
    /// <param name="point">Where the ring side is.</param>
    /// <param name="queueIndex">The queue's index within its device.</param>
    /// <param name="ringIndex">The free-running ring index the operation concerns (for "after ring index N" plans).</param>
    bool ShouldInject(RingFaultPoint point, int queueIndex, ushort ringIndex);
}
