namespace Virtio.VhostUser.Interop;

/// <summary>Linux eventfd counters: one 8-byte <c>write</c> adds, one 8-byte <c>read</c> takes and resets.</summary>
internal static unsafe class EventFd
{
    public static FileDescriptor Create()
    {
        int fd = Libc.EventFd(0, Libc.EfdCloexec | Libc.EfdNonblock);
        if (fd < 0)
        {
            throw UnixSocket.Error("eventfd");
        }

        return new FileDescriptor(fd);
    }

    /// <summary>Adds one. False when the write failed (a descriptor that is not an eventfd, or closed).</summary>
    public static bool Signal(int fd)
    {
        ulong one = 1;
        while (true)
        {
            nint n = Libc.Write(fd, &one, 8);
            if (n == 8)
            {
                return true;
            }

            if (n < 0 && Libc.LastError == Libc.Eintr)
            {
                continue;
            }

            // EAGAIN means the counter is at its maximum: the waiter is already due to wake.
            return n < 0 && Libc.LastError == Libc.Eagain;
        }
    }

    /// <summary>
    /// Takes the counter. Call only when <see cref="Poller"/> said the fd is readable (or on a non-blocking eventfd).
    /// </summary>
    /// <returns>The counter; 0 when idle; -1 when the descriptor does not behave as an eventfd.</returns>
    public static long TryRead(int fd)
    {
        ulong value = 0;
        while (true)
        {
            nint n = Libc.Read(fd, &value, 8);
            if (n == 8)
            {
                return (long)Math.Min(value, long.MaxValue);
            }

            if (n < 0 && Libc.LastError == Libc.Eintr)
            {
                continue;
            }

            return n < 0 && Libc.LastError == Libc.Eagain ? 0 : -1;
        }
    }
}
