using Virtio.Faults;

namespace Virtio.Scenarios;

/// <summary>A ring fault plan whose decisions the scenario makes, and which doubles as its hook into the device's steps.</summary>
internal sealed class ScenarioRingFaultPlan(Func<RingFaultPoint, ushort, bool> decide) : IRingFaultPlan
{
    public bool ShouldInject(RingFaultPoint point, int queueIndex, ushort ringIndex) => decide(point, ringIndex);
}
