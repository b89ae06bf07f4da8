using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;
using Virtio.VhostUser.Interop;

namespace Virtio.VhostUser;

/// <summary>
/// Checks on a Unix socket path before a server (<c>virtio ping</c>, <c>virtio serve</c>) binds or connects to it:
/// the length that <c>sun_path</c> holds, and what is already there. Listening removes only a stale socket (a socket nobody listens on, left by a
/// previous run); a live socket, a directory or any other file is an error and is left alone.
/// </summary>
public static class UnixSocketPath
{
    /// <summary>Bytes of a path <c>sun_path</c> holds with its terminating NUL (108 on Linux).</summary>
    public const int MaxBytes = 107;

    /// <summary>Why <paramref name="path"/> cannot be a socket address, or null.</summary>
    /// <param name="option">The option that named it, for the message.</param>
    /// <param name="path">The path.</param>
    public static string? CheckLength(string option, string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        int bytes = Encoding.UTF8.GetByteCount(path);
        return bytes == 0 ? $"{option}: the path is empty"
            : bytes > MaxBytes ? $"{option} {path}: {bytes} bytes long; a Unix socket path holds at most {MaxBytes} (sun_path is 108 bytes with its NUL)"
            : null;
    }

    /// <summary>What is at <paramref name="path"/>, without following a symbolic link.</summary>
    /// <exception cref="IOException">The path cannot be examined (say, a directory on it is not searchable).</exception>
    public static PathKind Kind(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        int type = Libc.FileType(path, out int errno);
        if (type < 0)
        {
            return errno is Libc.Enoent or Libc.Enotdir
                ? PathKind.Missing
                : throw new IOException($"{path}: {Marshal.GetPInvokeErrorMessage(errno)}");
        }

        return type switch
        {
            Libc.SIfSock => PathKind.Socket,
            Libc.SIfDir => PathKind.Directory,
            _ => PathKind.Other,
        };
    }

    /// <summary>Checks that <paramref name="path"/> is a socket to connect to; returns why not, or null.</summary>
    /// <param name="option">The option that named it, for the message.</param>
    /// <param name="path">The path to connect to.</param>
    /// <param name="ifMissing">Added to the message when nothing is there (what to start first).</param>
    public static string? CheckToConnect(string option, string path, string? ifMissing = null)
    {
        if (CheckLength(option, path) is { } tooLong)
        {
            return tooLong;
        }

        try
        {
            return Kind(path) switch
            {
                PathKind.Missing => $"{option} {path}: no such socket{ifMissing}",
                PathKind.Socket => null,
                _ => $"{option} {path}: not a socket",
            };
        }
        catch (IOException e)
        {
            return $"{option} {e.Message}";
        }
    }

    /// <summary>
    /// Makes <paramref name="path"/> free to bind: nothing there is fine; a stale socket (connecting is refused) is
    /// removed. Returns why not otherwise, and then leaves the path as it was.
    /// </summary>
    /// <param name="option">The option that named it, for the message.</param>
    /// <param name="path">The path to listen on.</param>
    public static string? PrepareToListen(string option, string path)
    {
        if (CheckLength(option, path) is { } tooLong)
        {
            return tooLong;
        }

        PathKind kind;
        try
        {
            kind = Kind(path);
        }
        catch (IOException e)
        {
            return $"{option} {e.Message}";
        }

        switch (kind)
        {
            case PathKind.Missing:
                return null;
            case PathKind.Directory:
                return $"{option} {path}: is a directory; give a path for the socket";
            case PathKind.Other:
                return $"{option} {path}: exists and is not a socket; it is left alone (remove it, or give another path)";
        }

        using var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            probe.Connect(new UnixDomainSocketEndPoint(path));
            return $"{option} {path}: another program is listening on this socket";
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionRefused)
        {
            // Stale: a socket file whose listener is gone (a previous run that was killed); safe to replace.
        }
        catch (SocketException e)
        {
            return $"{option} {path}: cannot tell whether the socket is in use ({e.Message})";
        }

        try
        {
            File.Delete(path);
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return $"{option} {path}: cannot remove the stale socket ({e.Message})";
        }
    }
}
