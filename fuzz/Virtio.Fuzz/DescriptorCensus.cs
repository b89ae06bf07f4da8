using System.Text;

namespace Virtio.Fuzz;

/// <summary>
/// The leak check of <c>vhost-user-fds</c>, by system calls rather than path lookups: the descriptors of the kinds a
/// front-end and a back-end hold (sockets, eventfds, memfds), counted from one <c>getdents64</c> of /proc/self/fd and an
/// <c>fstat</c> each, with <c>readlink</c> only for the few anonymous inodes and unlinked files, which fstat cannot
/// tell apart (an eventfd from an epoll instance, a memfd from a deleted file). The same count as listing
/// /proc/self/fd and reading every link, at a fraction of the cost (no directory entry is stat'ed by path).
/// </summary>
internal static unsafe class DescriptorCensus
{
    private const int SIfMt = 0xF000, SIfSock = 0xC000, SIfReg = 0x8000;

    /// <summary>Sockets, eventfds and memfds open in this process.</summary>
    public static int Count()
    {
        int dir = Native.Open("/proc/self/fd", Native.ORdonly | Native.ODirectory | Native.OCloexec);
        if (dir < 0)
        {
            throw new InvalidOperationException("open /proc/self/fd failed");
        }

        try
        {
            int count = 0;
            byte* entries = stackalloc byte[8192];
            byte* stat = stackalloc byte[Native.StatSize];
            nint n;
            while ((n = Native.GetDents64(dir, entries, 8192)) > 0)
            {
                for (nint at = 0; at < n;)
                {
                    // struct linux_dirent64: d_ino (8), d_off (8), d_reclen (2), d_type (1), d_name.
                    ushort length = *(ushort*)(entries + at + 16);
                    int fd = ParseFd(entries + at + 19);
                    at += length;
                    if (fd < 0 || fd == dir || Native.Fstat(fd, stat) != 0)
                    {
                        continue; // "." and "..", the directory itself, or closed meanwhile
                    }

                    int type = *(int*)(stat + Native.StatModeOffset) & SIfMt;
                    ulong links = *(ulong*)(stat + Native.StatNlinkOffset);
                    count += type switch
                    {
                        SIfSock => 1,
                        0 => LinkStartsWith(fd, "anon_inode:[eventfd]"u8) ? 1 : 0, // or epoll, timerfd, ...
                        SIfReg when links == 0 => LinkStartsWith(fd, "/memfd:"u8) ? 1 : 0, // or a deleted file
                        _ => 0,
                    };
                }
            }

            return count;
        }
        finally
        {
            _ = Native.Close(dir);
        }
    }

    /// <summary>The same descriptors, listed with their targets (for a finding's message).</summary>
    public static IEnumerable<string> List()
    {
        foreach (string f in Directory.GetFileSystemEntries("/proc/self/fd"))
        {
            string? target;
            try
            {
                target = new FileInfo(f).LinkTarget;
            }
            catch (IOException)
            {
                continue; // closed meanwhile
            }

            if (target is not null && (target.StartsWith("socket:", StringComparison.Ordinal)
                || target.StartsWith("anon_inode:[eventfd]", StringComparison.Ordinal) || target.StartsWith("/memfd:", StringComparison.Ordinal)))
            {
                yield return $"{Path.GetFileName(f)} -> {target}";
            }
        }
    }

    private static int ParseFd(byte* name)
    {
        int fd = 0;
        if (*name == 0)
        {
            return -1;
        }

        for (; *name != 0; name++)
        {
            if (*name < '0' || *name > '9')
            {
                return -1;
            }

            fd = (fd * 10) + (*name - '0');
        }

        return fd;
    }

    private static bool LinkStartsWith(int fd, ReadOnlySpan<byte> prefix)
    {
        byte* path = stackalloc byte[32];
        int length = Encoding.ASCII.GetBytes($"/proc/self/fd/{fd}", new Span<byte>(path, 31));
        path[length] = 0;
        byte* target = stackalloc byte[256];
        nint n = Native.ReadLink(path, target, 256);
        return n >= prefix.Length && new ReadOnlySpan<byte>(target, (int)n).StartsWith(prefix);
    }
}
