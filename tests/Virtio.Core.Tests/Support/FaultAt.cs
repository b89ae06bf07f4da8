using Virtio.Faults;

namespace Virtio.Core.Tests.Support;

/// <summary>A fault plan that injects at one point, every time it is asked.</summary>
internal sealed class FaultAt(RingFaultPoint point) : IRingFaultPlan
{
    public bool ShouldInject(RingFaultPoint p, int queueIndex, ushort ringIndex) => p == point;
}
