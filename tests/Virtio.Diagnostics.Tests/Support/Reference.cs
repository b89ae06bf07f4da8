namespace Virtio.Diagnostics.Tests.Support;

/// <summary>The real QEMU 7.2 replies copied next to the tests.</summary>
internal static class Reference
{
    public const string QomPath = "/machine/peripheral/vblk0/virtio-backend";

    public static string QueueStatusJson => Read("x-query-virtio-queue-status.json");

    public static string QueueElementJson => Read("x-query-virtio-queue-element.json");

    public static string VirtioStatusJson => Read("x-query-virtio-status.json");

    /// <summary>The HMP text with the monitor's CR LF normalised to LF.</summary>
    public static string HmpQueueStatus => Read("info-virtio-queue-status.txt").Replace("\r\n", "\n", StringComparison.Ordinal);

    public static string PathOf(string name) => Path.Combine(AppContext.BaseDirectory, "Reference", name);

    private static string Read(string name) => File.ReadAllText(PathOf(name));
}
