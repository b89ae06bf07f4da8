namespace Virtio.Diagnostics.Qmp;

/// <summary>Why a QMP exchange with QEMU failed.</summary>
public enum QmpErrorKind
{
    /// <summary>The monitor socket could not be reached (no such socket, refused, bad endpoint).</summary>
    ConnectFailed = 1,

    /// <summary>QEMU closed the connection.</summary>
    Disconnected,

    /// <summary>QEMU sent something that is not QMP (not JSON, no greeting, an oversized message, a reply of the wrong shape).</summary>
    ProtocolError,

    /// <summary>QEMU answered the command with an error reply; the message carries QEMU's own text.</summary>
    CommandFailed,

    /// <summary>A command this client needs is not in <c>query-commands</c> (the <c>x-</c> commands are experimental).</summary>
    MissingCommand,

    /// <summary>QEMU did not answer within <see cref="QmpClientOptions.CommandTimeout"/>.</summary>
    Timeout,

    /// <summary>A human-monitor (HMP) command's output could not be parsed.</summary>
    UnexpectedHmpReply,
}
