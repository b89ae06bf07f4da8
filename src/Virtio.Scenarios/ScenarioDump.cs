using Virtio.Diagnostics;
using Virtio.Memory;

namespace Virtio.Scenarios;

/// <summary>
/// Saves a scenario's queue for <c>virtio analyze</c>: guest RAM as <c>ram.bin</c>, and the QMP replies
/// <c>queue-status.json</c> and <c>virtio-status.json</c>, as they would be taken from a live QEMU.
/// </summary>
public static class ScenarioDump
{
    /// <summary>Writes the three files into <paramref name="directory"/>, creating it.</summary>
    /// <exception cref="IOException">A file could not be written.</exception>
    /// <exception cref="UnauthorizedAccessException">The directory is not writable.</exception>
    public static void Write(string directory, GuestMemory memory, HangReport report, VirtioStatus status)
    {
        ArgumentNullException.ThrowIfNull(memory);
        ArgumentNullException.ThrowIfNull(report);
        ArgumentNullException.ThrowIfNull(status);
        Directory.CreateDirectory(directory);
        using (FileStream ram = File.Create(Path.Combine(directory, "ram.bin")))
        {
            memory.Dump(ram);
        }

        File.WriteAllText(Path.Combine(directory, "queue-status.json"), report.QueueStatus.ToQmpReplyJson(indented: true) + "\n");
        File.WriteAllText(Path.Combine(directory, "virtio-status.json"), status.ToQmpReplyJson(indented: true) + "\n");
    }
}
