namespace Virtio.Device;

/// <summary>The device status field (VIRTIO 1.x section 2.1).</summary>
[Flags]
public enum DeviceStatus : byte
{
    /// <summary>Reset: what the driver writes to reset the device, and the status after reset.</summary>
    None = 0,

    /// <summary>The guest found the device.</summary>
    Acknowledge = 1,

    /// <summary>The guest knows how to drive it.</summary>
    Driver = 2,

    /// <summary>The driver is set up and ready to drive the device; the device is live.</summary>
    DriverOk = 4,

    /// <summary>Feature negotiation is complete; the device clears it when it refuses the driver's features.</summary>
    FeaturesOk = 8,

    /// <summary>The device hit an error it cannot recover from; the driver must reset it.</summary>
    DeviceNeedsReset = 0x40,

    /// <summary>The driver gave up on the device.</summary>
    Failed = 0x80,
}
