namespace Virtio.VhostUser.Interop;

/// <summary>Shared mappings of memfds (MAP_SHARED), the form a vhost-user front-end shares guest RAM in.</summary>
internal static unsafe class SharedMemory
{
    /// <summary>Maps <paramref name="length"/> bytes of <paramref name="fd"/> from offset 0, read-write, shared.</summary>
    /// <returns>The base address, or 0 with <paramref name="errno"/> set.</returns>
    public static nint TryMap(int fd, ulong length, out int errno)
    {
        errno = 0;
        if (length == 0 || length > (ulong)nint.MaxValue)
        {
            errno = 22; // EINVAL
            return 0;
        }

        void* p = Libc.Mmap(null, (nuint)length, Libc.ProtRead | Libc.ProtWrite, Libc.MapShared, fd, 0);
        if (p == (void*)-1)
        {
            errno = Libc.LastError;
            return 0;
        }

        return (nint)p;
    }

    /// <summary>
    /// The size of the file behind <paramref name="fd"/> (memfd, hugetlbfs or tmpfs file), or -1 when it has none.
    /// A mapping past the end of the file maps fine but faults with SIGBUS when touched, which a guest ring there
    /// would turn into a crash of the whole back-end.
    /// </summary>
    public static long FileSize(int fd)
    {
        const int SeekEnd = 2;
        return Libc.Lseek(fd, 0, SeekEnd);
    }

    /// <summary>The bytes at <paramref name="address"/> of a mapping this process owns (bounds are the caller's).</summary>
    public static Span<byte> AsSpan(nint address, int length) => new((void*)address, length);

    public static void Unmap(nint address, ulong length) => Libc.Munmap((void*)address, (nuint)length);

    /// <summary>A memfd of <paramref name="size"/> bytes (zeroed), for a front-end's guest RAM or a test.</summary>
    public static FileDescriptor CreateMemfd(string name, ulong size)
    {
        int fd = Libc.MemfdCreate(name, Libc.MfdCloexec);
        if (fd < 0)
        {
            throw UnixSocket.Error("memfd_create");
        }

        var owned = new FileDescriptor(fd);
        if (Libc.Ftruncate(fd, (long)size) < 0)
        {
            owned.Dispose();
            throw UnixSocket.Error("ftruncate");
        }

        return owned;
    }
}
