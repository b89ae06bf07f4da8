namespace Virtio.Driver;

/// <summary>Why the driver side marked its queue broken: what the device did wrong, as Linux's <c>BAD_RING</c> says it.</summary>
public sealed class DriverRingError
{
    internal DriverRingError(DriverRingErrorKind kind, uint id)
    {
        Kind = kind;
        Id = id;
        Message = kind == DriverRingErrorKind.UsedIdOutOfRange ? $"id {id} out of range" : $"id {id} is not a head!";
    }

    /// <summary>The rule the device broke.</summary>
    public DriverRingErrorKind Kind { get; }

    /// <summary>The offending used element id.</summary>
    public uint Id { get; }

    /// <summary>The message, as Linux logs it.</summary>
    public string Message { get; }

    /// <inheritdoc />
    public override string ToString() => Message;
}
