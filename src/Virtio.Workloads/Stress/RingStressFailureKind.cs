namespace Virtio.Workloads.Stress;

/// <summary>What went wrong in a <see cref="RingStress"/> run.</summary>
public enum RingStressFailureKind
{
    /// <summary>A buffer the driver added never came back (and was not outstanding at a reset).</summary>
    Lost,

    /// <summary>A buffer came back twice, or under an id that was not in flight.</summary>
    Duplicate,

    /// <summary>The used length is not what the device wrote.</summary>
    WrongLength,

    /// <summary>Bytes differ from the pattern: the device read wrong readable bytes, or the driver wrong written ones.</summary>
    DataCorrupted,

    /// <summary>The device popped a chain whose shape (descriptors, readable and writable parts) is not the one the driver built.</summary>
    WrongChain,

    /// <summary>A side waited past the stall timeout with work outstanding (a lost kick, call or buffer).</summary>
    Stall,

    /// <summary>Driver or device found a ring violation and broke the queue.</summary>
    QueueBroken,

    /// <summary>At a reset, the buffers in flight did not add up (driver, device and available ring disagree).</summary>
    ResetAccounting,

    /// <summary>An exception escaped one of the sides (a bug in the library or the stress).</summary>
    Exception,
}
