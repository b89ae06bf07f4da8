namespace Virtio.Diagnostics.Tests.Support;

/// <summary>
/// QMP lines captured from QEMU 7.2 (Debian 12, TCG) running Debian's 6.1 kernel with a two-queue virtio-blk disk
/// and two virtio-net NICs on -netdev stream: net0's peer accepts and never reads, so its tx queue holds an element
/// (see Reference/live/README.md).
/// </summary>
internal static class LiveReference
{
    public const string BlkPath = "/machine/peripheral/vblk0/virtio-backend";
    public const string NetPath = "/machine/peripheral/net0/virtio-backend";

    /// <summary>The captured line, exactly as QEMU sent it (without its id: the commands were sent without one).</summary>
    public static string Line(string name) => File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Reference", "live", name)).TrimEnd('\r', '\n');
}
