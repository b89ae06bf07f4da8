using System.Runtime.InteropServices;
using System.Text;

namespace Virtio.VhostUser.Interop;

/// <summary>
/// Unix stream sockets through the raw system calls, so that every byte and every SCM_RIGHTS descriptor goes through
/// <c>recvmsg</c>/<c>sendmsg</c> and the runtime's own (non-blocking, async) socket machinery never owns the fd.
/// Sockets are blocking; a reader that must be stoppable polls first (<see cref="Poller"/>).
/// </summary>
internal static unsafe class UnixSocket
{
    /// <summary>At most 8 descriptors travel with one vhost-user message (VHOST_MEMORY_BASELINE_NREGIONS).</summary>
    public const int MaxFds = 8;

    // CMSG_SPACE(8 * sizeof(int)) on LP64: a 16-byte header and 32 bytes of data.
    private const int ControlBytes = 16 + (MaxFds * sizeof(int));

    private static int s_staging;

    /// <summary>
    /// A socket listening at <paramref name="path"/>, which appears there only once it listens: it is bound and set
    /// listening under a staging name in the same directory, then renamed onto the path (a peer that connects as soon
    /// as it sees the file, as QEMU does after a wait for it, never meets a bound socket that refuses). A path too long
    /// for a staging name beside it is bound in place.
    /// </summary>
    public static FileDescriptor Listen(string path, int backlog = 1)
    {
        Libc.SockAddrUn address = Address(path, out uint length);
        string staging = Path.Combine(Path.GetDirectoryName(path) ?? "", $".vu{Environment.ProcessId}-{Interlocked.Increment(ref s_staging)}");
        bool staged = Encoding.UTF8.GetByteCount(staging) < 108;
        if (staged)
        {
            File.Delete(staging);
            address = Address(staging, out length);
        }

        var fd = NewSocket();
        try
        {
            Check(Libc.Bind(fd.Value, &address, length), "bind " + path);
            Check(Libc.Listen(fd.Value, backlog), "listen " + path);
            if (staged)
            {
                Check(Libc.Rename(staging, path), "rename onto " + path);
            }

            return fd;
        }
        catch
        {
            fd.Dispose();
            if (staged)
            {
                File.Delete(staging);
            }

            throw;
        }
    }

    public static FileDescriptor Accept(FileDescriptor listener)
    {
        while (true)
        {
            int fd = Libc.Accept4(listener.Value, null, null, Libc.SockCloexec);
            if (fd >= 0)
            {
                return new FileDescriptor(fd);
            }

            if (Libc.LastError != Libc.Eintr)
            {
                throw Error("accept");
            }
        }
    }

    public static FileDescriptor Connect(string path)
    {
        var fd = NewSocket();
        try
        {
            Libc.SockAddrUn address = Address(path, out uint length);
            Check(Libc.Connect(fd.Value, &address, length), "connect " + path);
            return fd;
        }
        catch
        {
            fd.Dispose();
            throw;
        }
    }

    public static (FileDescriptor First, FileDescriptor Second) Pair()
    {
        int* fds = stackalloc int[2];
        Check(Libc.SocketPair(Libc.AfUnix, Libc.SockStream | Libc.SockCloexec, 0, fds), "socketpair");
        return (new FileDescriptor(fds[0]), new FileDescriptor(fds[1]));
    }

    /// <summary>Wakes a thread blocked reading the socket and makes the peer see end of file.</summary>
    public static void Shutdown(FileDescriptor socket) => Libc.Shutdown(socket.Value, Libc.ShutRdwr);

    /// <summary>
    /// Sends all of <paramref name="data"/>, the descriptors with its first byte (SCM_RIGHTS). MSG_NOSIGNAL: a peer
    /// that went away is an error, not SIGPIPE.
    /// </summary>
    /// <param name="socket">The connected socket.</param>
    /// <param name="data">The bytes.</param>
    /// <param name="fds">Descriptors to pass (duplicated into the peer; the caller keeps its own).</param>
    /// <param name="maxFds">The limit on <paramref name="fds"/>; above <see cref="MaxFds"/> only to test a receiver.</param>
    public static void Send(FileDescriptor socket, ReadOnlySpan<byte> data, ReadOnlySpan<int> fds, int maxFds = MaxFds)
    {
        if (fds.Length > maxFds || fds.Length > 2 * MaxFds)
        {
            throw new ArgumentException($"{fds.Length} descriptors, at most {maxFds} per message", nameof(fds));
        }

        const int SendControlBytes = 16 + (2 * MaxFds * sizeof(int));
        byte* control = stackalloc byte[SendControlBytes];
        new Span<byte>(control, SendControlBytes).Clear();
        fixed (byte* bytes = data)
        {
            int sent = 0;
            while (sent < data.Length || (data.Length == 0 && sent == 0))
            {
                Libc.IoVec iov = new() { Base = bytes + sent, Length = (nuint)(data.Length - sent) };
                Libc.MsgHdr message = new() { Iov = &iov, IovLength = 1 };
                if (sent == 0 && fds.Length > 0)
                {
                    var header = (Libc.CmsgHdr*)control;
                    header->Length = (nuint)(16 + (fds.Length * sizeof(int)));
                    header->Level = Libc.SolSocket;
                    header->Type = Libc.ScmRights;
                    fds.CopyTo(new Span<int>(control + 16, fds.Length));
                    message.Control = control;
                    message.ControlLength = (nuint)((16 + (fds.Length * sizeof(int)) + 7) & ~7);
                }

                nint n = Libc.SendMsg(socket.Value, &message, Libc.MsgNosignal);
                if (n < 0)
                {
                    if (Libc.LastError == Libc.Eintr)
                    {
                        continue;
                    }

                    throw Error("sendmsg");
                }

                if (data.Length == 0)
                {
                    return;
                }

                sent += (int)n;
            }
        }
    }

    /// <summary>
    /// One <c>recvmsg</c> into <paramref name="buffer"/> with MSG_CMSG_CLOEXEC. Received descriptors are stored in
    /// <paramref name="fds"/> (the caller owns them); descriptors beyond its room are closed here, and so is everything
    /// when the kernel truncated the control data (MSG_CTRUNC), which is then reported.
    /// </summary>
    /// <returns>Bytes read: 0 at end of file.</returns>
    public static int Receive(FileDescriptor socket, Span<byte> buffer, Span<int> fds, out int fdCount, out bool controlTruncated)
    {
        fdCount = 0;
        controlTruncated = false;
        byte* control = stackalloc byte[ControlBytes];
        fixed (byte* bytes = buffer)
        {
            while (true)
            {
                Libc.IoVec iov = new() { Base = bytes, Length = (nuint)buffer.Length };
                Libc.MsgHdr message = new() { Iov = &iov, IovLength = 1, Control = control, ControlLength = ControlBytes };
                nint n = Libc.RecvMsg(socket.Value, &message, Libc.MsgCmsgCloexec);
                if (n < 0)
                {
                    if (Libc.LastError == Libc.Eintr)
                    {
                        continue;
                    }

                    throw Error("recvmsg");
                }

                CollectFds(control, message.ControlLength, fds, ref fdCount);
                if ((message.Flags & Libc.MsgCtrunc) != 0)
                {
                    // Some descriptors were dropped by the kernel: the message cannot be trusted, and the ones that
                    // did arrive must not leak.
                    controlTruncated = true;
                    FileDescriptor.CloseAll(fds[..fdCount]);
                    fdCount = 0;
                }

                return (int)n;
            }
        }
    }

    /// <summary>Reads exactly <paramref name="buffer"/>'s length; descriptors arriving meanwhile are closed.</summary>
    /// <returns>False at end of file before the buffer was full.</returns>
    public static bool ReceiveExact(FileDescriptor socket, Span<byte> buffer, out int strayFds)
    {
        strayFds = 0;
        Span<int> fds = stackalloc int[MaxFds];
        while (!buffer.IsEmpty)
        {
            int n = Receive(socket, buffer, fds, out int count, out bool truncated);
            FileDescriptor.CloseAll(fds[..count]);
            strayFds += count + (truncated ? 1 : 0);
            if (n == 0)
            {
                return false;
            }

            buffer = buffer[n..];
        }

        return true;
    }

    private static void CollectFds(byte* control, nuint length, Span<int> fds, ref int fdCount)
    {
        nuint offset = 0;
        while (offset + 16 <= length)
        {
            var header = (Libc.CmsgHdr*)(control + offset);
            if (header->Length < 16 || offset + header->Length > length)
            {
                break;
            }

            if (header->Level == Libc.SolSocket && header->Type == Libc.ScmRights)
            {
                int count = (int)((header->Length - 16) / sizeof(int));
                int* data = (int*)(control + offset + 16);
                for (int i = 0; i < count; i++)
                {
                    if (fdCount < fds.Length)
                    {
                        fds[fdCount++] = data[i];
                    }
                    else
                    {
                        Libc.Close(data[i]);
                    }
                }
            }

            offset += (header->Length + 7) & ~(nuint)7; // CMSG_NXTHDR alignment
        }
    }

    private static FileDescriptor NewSocket()
    {
        int fd = Libc.Socket(Libc.AfUnix, Libc.SockStream | Libc.SockCloexec, 0);
        if (fd < 0)
        {
            throw Error("socket");
        }

        return new FileDescriptor(fd);
    }

    private static Libc.SockAddrUn Address(string path, out uint length)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(path);
        if (bytes.Length >= 108)
        {
            throw new ArgumentException($"socket path is {bytes.Length} bytes, the limit is 107", nameof(path));
        }

        Libc.SockAddrUn address = new() { Family = Libc.AfUnix };
        bytes.CopyTo(new Span<byte>(address.Path, 108));
        length = (uint)(sizeof(ushort) + bytes.Length + 1);
        return address;
    }

    private static void Check(int result, string what)
    {
        if (result < 0)
        {
            throw Error(what);
        }
    }

    internal static IOException Error(string what)
    {
        int errno = Marshal.GetLastPInvokeError();
        return new IOException($"{what}: {Libc.ErrorText(errno)} (errno {errno})", errno);
    }
}
