namespace Virtio.VhostUser.Tests.Support;

/// <summary>What this process holds open: descriptors and memfd mappings, to prove nothing leaks.</summary>
internal static class Fds
{
    public static int OpenCount() => Directory.GetFiles("/proc/self/fd").Length;

    public static int MappingsOf(string memfdName) =>
        File.ReadAllLines("/proc/self/maps").Count(l => l.Contains("memfd:" + memfdName, StringComparison.Ordinal));

    /// <summary>Waits (generously) for the count to come back to <paramref name="expected"/>: the finalizer-free closes are synchronous, this only absorbs other tests' threads.</summary>
    public static bool SettlesAt(Func<int> count, int expected)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (count() > expected && DateTime.UtcNow < deadline)
        {
            Thread.Sleep(10);
        }

        return count() <= expected;
    }
}
