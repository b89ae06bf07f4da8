namespace Virtio.VhostUser.Tests.Support;

/// <summary>What this process holds open: descriptors and memfd mappings, to prove nothing leaks.</summary>
internal static class Fds
{
    public static int OpenCount() => Directory.GetFiles("/proc/self/fd").Length;

    public static int MappingsOf(string memfdName) =>
        File.ReadAllLines("/proc/self/maps").Count(l => l.Contains("memfd:" + memfdName, StringComparison.Ordinal));
}
