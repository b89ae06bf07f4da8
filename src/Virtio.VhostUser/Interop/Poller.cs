using System.Runtime.InteropServices;

namespace Virtio.VhostUser.Interop;

/// <summary>One <c>poll</c> over a set of descriptors, each for readability.</summary>
internal static unsafe class Poller
{
    /// <summary>A descriptor to wait on and, after <see cref="Wait"/>, what happened to it.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct Entry
    {
        public int Fd;
        public short Events;
        public short Revents;

        public Entry(int fd)
        {
            Fd = fd;
            Events = Libc.PollIn;
        }

        public readonly bool Readable => (Revents & Libc.PollIn) != 0;

        public readonly bool Failed => (Revents & (Libc.PollErr | Libc.PollHup | Libc.PollNval)) != 0;
    }

    /// <summary>Waits until one entry is ready or <paramref name="timeoutMs"/> passes (-1: forever).</summary>
    /// <returns>How many entries are ready (0 on timeout).</returns>
    public static int Wait(Span<Entry> entries, int timeoutMs)
    {
        fixed (Entry* p = entries)
        {
            while (true)
            {
                int n = Libc.Poll((Libc.PollFd*)p, (nuint)entries.Length, timeoutMs);
                if (n >= 0)
                {
                    return n;
                }

                if (Libc.LastError != Libc.Eintr)
                {
                    throw UnixSocket.Error("poll");
                }
            }
        }
    }
}
