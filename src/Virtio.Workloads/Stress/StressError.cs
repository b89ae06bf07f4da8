namespace Virtio.Workloads.Stress;

/// <summary>A failure found by one side, before the run adds the seed's context.</summary>
internal sealed record StressError(RingStressFailureKind Kind, long Serial, string Message);
