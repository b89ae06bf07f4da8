namespace Virtio.VhostUser;

/// <summary>What reading one message from the socket gave; every value but <see cref="Message"/> ends the connection.</summary>
public enum VhostUserReceiveResult
{
    /// <summary>A whole, well-framed message.</summary>
    Message,

    /// <summary>The peer closed the connection between messages.</summary>
    EndOfFile,

    /// <summary>The connection ended inside the 12-byte header.</summary>
    ShortHeader,

    /// <summary>The flags do not carry protocol version 1.</summary>
    BadVersion,

    /// <summary>The header announces a payload above <see cref="VhostUserProtocol.MaxPayloadSize"/>.</summary>
    OversizePayload,

    /// <summary>The connection ended inside the payload.</summary>
    ShortPayload,

    /// <summary>More descriptors were sent than a message may carry (MSG_CTRUNC); all of them were closed.</summary>
    TooManyFds,
}
