using System.Globalization;

namespace Virtio.Diagnostics.Live;

/// <summary>What each queue of a QEMU virtio device is for, by device name and queue index (the device's spec section).</summary>
public static class QemuQueueRoles
{
    /// <summary>
    /// The role of queue <paramref name="queueIndex"/>: virtio-net's rx/tx pairs and its control queue (the last, when
    /// <paramref name="queueCount"/> is odd: 5.1.2), virtio-blk's request queues (5.2.2), virtio-scsi's control, event
    /// and request queues (5.6.2); "queue N" for devices not known here.
    /// </summary>
    /// <param name="deviceName">QEMU's device name.</param>
    /// <param name="queueIndex">The queue.</param>
    /// <param name="queueCount">The device's queues (<c>num-vqs</c>).</param>
    public static string For(string deviceName, int queueIndex, int queueCount)
    {
        ArgumentNullException.ThrowIfNull(deviceName);
        CultureInfo c = CultureInfo.InvariantCulture;
        return deviceName switch
        {
            "virtio-net" when (queueCount & 1) == 1 && queueIndex == queueCount - 1 => "ctrl",
            "virtio-net" => string.Create(c, $"{((queueIndex & 1) == 0 ? "rx" : "tx")} {queueIndex / 2}"),
            "virtio-blk" => string.Create(c, $"request {queueIndex}"),
            "virtio-scsi" => queueIndex switch { 0 => "control", 1 => "event", _ => string.Create(c, $"request {queueIndex - 2}") },
            _ => string.Create(c, $"queue {queueIndex}"),
        };
    }
}
