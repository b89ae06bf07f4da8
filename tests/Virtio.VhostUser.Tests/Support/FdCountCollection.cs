namespace Virtio.VhostUser.Tests.Support;

/// <summary>
/// Tests that prove no descriptor leaks by counting the process's open descriptors (<see cref="Fds"/>) run alone: a
/// test of another class running meanwhile opens and closes descriptors of its own (a CI run once counted 183 for
/// 184 that way).
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class FdCountCollection
{
    public const string Name = "Process-wide descriptor counts";
}
