namespace Virtio.Workloads.Stress;

/// <summary>The driver's token of one buffer: its serial in the seed and the data slot it occupies.</summary>
internal readonly record struct StressToken(long Serial, int Slot);
