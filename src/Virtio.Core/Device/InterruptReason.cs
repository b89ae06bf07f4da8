namespace Virtio.Device;

/// <summary>Why the device interrupted the driver: the bits of the virtio-mmio InterruptStatus register.</summary>
[Flags]
public enum InterruptReason
{
    /// <summary>No interrupt pending.</summary>
    None = 0,

    /// <summary>The device used a buffer in at least one queue.</summary>
    UsedBuffer = 1,

    /// <summary>The configuration space changed (or the device needs a reset).</summary>
    ConfigChange = 2,
}
