namespace Virtio.VhostUser.Tests.Support;

/// <summary>A fact that needs QEMU's <c>qemu-storage-daemon</c> (Debian's qemu-system-x86); skipped, and counted so, without it.</summary>
internal sealed class QemuStorageDaemonFactAttribute : FactAttribute
{
    public const string Path = "/usr/bin/qemu-storage-daemon";

    public QemuStorageDaemonFactAttribute()
    {
        if (!File.Exists(Path))
        {
            Skip = $"{Path} is not installed (apt-get install qemu-system-x86)";
        }
    }
}
