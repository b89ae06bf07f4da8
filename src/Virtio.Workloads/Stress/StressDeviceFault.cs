namespace Virtio.Workloads.Stress;

/// <summary>
/// How the stress device misbehaves on purpose, once, in the first seed (tests of the checks themselves). With a fault
/// set, the first seed ends by stopping the device once idle, so that a dropped used entry is found at once.
/// </summary>
internal enum StressDeviceFault
{
    /// <summary>A correct device.</summary>
    None,

    /// <summary>Pops the last buffer of the first seed and never puts it in the used ring.</summary>
    DropUsedEntry,

    /// <summary>Flips one byte of the first writable part it fills.</summary>
    CorruptWrittenByte,

    /// <summary>Reports one byte more than it wrote in the first used element with writable room.</summary>
    WrongUsedLength,

    /// <summary>
    /// Goes to sleep with notifications off and without the re-check (the lost-wake-up bug class), from its first idle
    /// moment on: the driver stops kicking, and the run must end as a stall instead of hanging.
    /// </summary>
    SleepWithNotificationsOff,
}
