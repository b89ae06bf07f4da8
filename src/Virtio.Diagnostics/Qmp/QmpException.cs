namespace Virtio.Diagnostics.Qmp;

/// <summary>A QMP exchange failed; <see cref="Kind"/> says how and the message says which command and what QEMU said.</summary>
public sealed class QmpException : Exception
{
    /// <summary>Creates the exception.</summary>
    public QmpException(QmpErrorKind kind, string message, Exception? innerException = null)
        : base(message, innerException)
    {
        Kind = kind;
    }

    /// <summary>Creates an exception of kind <see cref="QmpErrorKind.ProtocolError"/>.</summary>
    public QmpException()
        : this(QmpErrorKind.ProtocolError, "QMP protocol error")
    {
    }

    /// <summary>Creates an exception of kind <see cref="QmpErrorKind.ProtocolError"/>.</summary>
    public QmpException(string message)
        : this(QmpErrorKind.ProtocolError, message)
    {
    }

    /// <summary>Creates an exception of kind <see cref="QmpErrorKind.ProtocolError"/>.</summary>
    public QmpException(string message, Exception innerException)
        : this(QmpErrorKind.ProtocolError, message, innerException)
    {
    }

    /// <summary>What failed.</summary>
    public QmpErrorKind Kind { get; }

    /// <summary>The command that failed, when the failure belongs to one.</summary>
    public string? Command { get; init; }

    /// <summary>QEMU's error class (<c>GenericError</c>, <c>CommandNotFound</c>...), for <see cref="QmpErrorKind.CommandFailed"/>.</summary>
    public string? ErrorClass { get; init; }

    /// <summary>QEMU's error text (<c>desc</c>), for <see cref="QmpErrorKind.CommandFailed"/>.</summary>
    public string? QemuDescription { get; init; }
}
