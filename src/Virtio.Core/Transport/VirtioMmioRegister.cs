namespace Virtio.Transport;

/// <summary>Register offsets of the virtio-mmio transport, register layout version 2 (VIRTIO 1.x section 4.2.2).</summary>
public static class VirtioMmioRegister
{
    /// <summary>R: 0x74726976 ("virt").</summary>
    public const int MagicValue = 0x000;

    /// <summary>R: 2 for a VIRTIO 1.x device.</summary>
    public const int Version = 0x004;

    /// <summary>R: the device ID (0 = no device).</summary>
    public const int DeviceId = 0x008;

    /// <summary>R: the vendor ID.</summary>
    public const int VendorId = 0x00c;

    /// <summary>R: the 32 feature bits selected by <see cref="DeviceFeaturesSel"/>.</summary>
    public const int DeviceFeatures = 0x010;

    /// <summary>W: which 32-bit word of the device features to read.</summary>
    public const int DeviceFeaturesSel = 0x014;

    /// <summary>W: 32 bits of the driver's features, selected by <see cref="DriverFeaturesSel"/>.</summary>
    public const int DriverFeatures = 0x020;

    /// <summary>W: which 32-bit word of the driver features to write.</summary>
    public const int DriverFeaturesSel = 0x024;

    /// <summary>W: the queue the queue registers refer to.</summary>
    public const int QueueSel = 0x030;

    /// <summary>R: the selected queue's maximum size; 0 when the queue does not exist.</summary>
    public const int QueueNumMax = 0x034;

    /// <summary>W: the selected queue's size.</summary>
    public const int QueueNum = 0x038;

    /// <summary>RW: the selected queue is ready (1) or not (0).</summary>
    public const int QueueReady = 0x044;

    /// <summary>W: kick the queue whose index is written.</summary>
    public const int QueueNotify = 0x050;

    /// <summary>R: pending interrupt reasons (bit 0 used buffer, bit 1 config change).</summary>
    public const int InterruptStatus = 0x060;

    /// <summary>W: acknowledge the interrupt reasons written.</summary>
    public const int InterruptAck = 0x064;

    /// <summary>RW: the device status.</summary>
    public const int Status = 0x070;

    /// <summary>W: descriptor table address, low 32 bits.</summary>
    public const int QueueDescLow = 0x080;

    /// <summary>W: descriptor table address, high 32 bits.</summary>
    public const int QueueDescHigh = 0x084;

    /// <summary>W: driver area (available ring) address, low 32 bits.</summary>
    public const int QueueDriverLow = 0x090;

    /// <summary>W: driver area (available ring) address, high 32 bits.</summary>
    public const int QueueDriverHigh = 0x094;

    /// <summary>W: device area (used ring) address, low 32 bits.</summary>
    public const int QueueDeviceLow = 0x0a0;

    /// <summary>W: device area (used ring) address, high 32 bits.</summary>
    public const int QueueDeviceHigh = 0x0a4;

    /// <summary>W: shared memory region selector.</summary>
    public const int ShmSel = 0x0ac;

    /// <summary>R: selected shared memory region length, low 32 bits (all ones: no such region).</summary>
    public const int ShmLenLow = 0x0b0;

    /// <summary>R: selected shared memory region length, high 32 bits.</summary>
    public const int ShmLenHigh = 0x0b4;

    /// <summary>R: selected shared memory region base, low 32 bits.</summary>
    public const int ShmBaseLow = 0x0b8;

    /// <summary>R: selected shared memory region base, high 32 bits.</summary>
    public const int ShmBaseHigh = 0x0bc;

    /// <summary>R: the config generation counter.</summary>
    public const int ConfigGeneration = 0x0fc;

    /// <summary>RW: the device-specific config space starts here.</summary>
    public const int Config = 0x100;

    /// <summary>The magic value "virt", little-endian.</summary>
    public const uint Magic = 0x74726976;
}
