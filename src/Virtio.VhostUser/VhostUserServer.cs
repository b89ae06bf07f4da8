using Virtio.VhostUser.Interop;

namespace Virtio.VhostUser;

/// <summary>
/// Puts a <see cref="VhostUserBackend"/> on a Unix socket: listening (QEMU connects: <c>-chardev socket,path=S</c>)
/// and serving one front-end at a time, each new connection after the last ended (QEMU reconnects after a restart);
/// or connecting to a front-end that listens (<c>-chardev socket,path=S,server=on</c>).
/// </summary>
public static class VhostUserServer
{
    /// <summary>
    /// Listens on <paramref name="path"/> (replacing only a stale socket: one nobody listens on) and serves connections one after the other
    /// until <paramref name="cancellationToken"/> fires; <paramref name="onListening"/> runs once the socket accepts.
    /// </summary>
    /// <param name="backend">The back-end to serve.</param>
    /// <param name="path">The socket path.</param>
    /// <param name="once">Serve only the first connection, then return.</param>
    /// <param name="onListening">Called when the socket is ready (for a caller that starts the front-end then).</param>
    /// <param name="cancellationToken">Stops listening and ends the current connection cleanly.</param>
    /// <exception cref="IOException">The socket cannot be created, or something other than a stale socket is at
    /// <paramref name="path"/> (a <see cref="VhostUserException"/> that says what; it is left alone).</exception>
    public static void Listen(VhostUserBackend backend, string path, bool once = false, Action? onListening = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (UnixSocketPath.PrepareToListen("socket", path) is { } refusal)
        {
            throw new VhostUserException(refusal); // a live socket, a directory or a file: never removed
        }

        using FileDescriptor listener = UnixSocket.Listen(path);
        using FileDescriptor stop = EventFd.Create();
        using CancellationTokenRegistration registration = cancellationToken.Register(() => EventFd.Signal(stop.Value));
        onListening?.Invoke();
        try
        {
            Span<Poller.Entry> entries = stackalloc Poller.Entry[2];
            while (!cancellationToken.IsCancellationRequested)
            {
                entries[0] = new Poller.Entry(listener.Value);
                entries[1] = new Poller.Entry(stop.Value);
                Poller.Wait(entries, -1);
                if (entries[1].Readable)
                {
                    return;
                }

                backend.Serve(UnixSocket.Accept(listener), cancellationToken);
                if (once)
                {
                    return;
                }
            }
        }
        finally
        {
            File.Delete(path);
        }
    }

    /// <summary>Connects to a front-end listening on <paramref name="path"/> and serves that one connection.</summary>
    /// <exception cref="IOException">The connection fails.</exception>
    public static void Connect(VhostUserBackend backend, string path, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(backend);
        backend.Serve(UnixSocket.Connect(path), cancellationToken);
    }
}
