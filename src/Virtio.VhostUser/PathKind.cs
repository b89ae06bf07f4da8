namespace Virtio.VhostUser;

/// <summary>What is at a path, as <c>lstat</c> sees it (a symbolic link is not followed).</summary>
public enum PathKind
{
    /// <summary>Nothing.</summary>
    Missing,

    /// <summary>A Unix domain socket.</summary>
    Socket,

    /// <summary>A directory.</summary>
    Directory,

    /// <summary>Anything else: a regular file, a link, a FIFO, a device.</summary>
    Other,
}
