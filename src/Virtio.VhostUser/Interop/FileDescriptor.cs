using Microsoft.Win32.SafeHandles;

namespace Virtio.VhostUser.Interop;

/// <summary>An owned Linux file descriptor, closed exactly once (on dispose, or by the finalizer as a last resort).</summary>
public sealed class FileDescriptor : SafeHandleMinusOneIsInvalid
{
    /// <summary>Takes ownership of <paramref name="fd"/>.</summary>
    public FileDescriptor(int fd)
        : base(ownsHandle: true) => SetHandle(fd);

    /// <summary>The descriptor number (-1 once closed).</summary>
    public int Value => IsClosed ? -1 : (int)handle;

    /// <inheritdoc/>
    protected override bool ReleaseHandle() => Libc.Close((int)handle) == 0;

    /// <summary>Closes every descriptor in <paramref name="fds"/> (the fds of a message nobody kept).</summary>
    internal static void CloseAll(ReadOnlySpan<int> fds)
    {
        foreach (int fd in fds)
        {
            Libc.Close(fd);
        }
    }
}
