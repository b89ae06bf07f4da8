namespace Virtio.Diagnostics.Tests.Support;

/// <summary>
/// Tests that listen to the process-wide meter or count this thread's allocations run alone: a listener enabled by
/// one test would record (and allocate) on the threads of the others.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class MeterCollection
{
    public const string Name = "Process-wide meters and allocation counts";
}
