using Virtio.Faults;

namespace Virtio.Testing;

/// <summary>A fault plan that injects at one point, every time it is asked.</summary>
public sealed class FaultAt(RingFaultPoint at) : IRingFaultPlan
{
    /// <inheritdoc/>
    public bool ShouldInject(RingFaultPoint point, int queueIndex, ushort ringIndex) => point == at;
}
