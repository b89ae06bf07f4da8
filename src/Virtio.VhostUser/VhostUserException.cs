namespace Virtio.VhostUser;

/// <summary>The other side of a vhost-user connection refused a request or broke the protocol.</summary>
public sealed class VhostUserException : IOException
{
    /// <summary>Creates the exception.</summary>
    public VhostUserException()
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public VhostUserException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and a cause.</summary>
    public VhostUserException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
