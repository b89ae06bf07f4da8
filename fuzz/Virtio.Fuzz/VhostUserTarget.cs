using Virtio.Devices.Block;
using Virtio.VhostUser;

namespace Virtio.Fuzz;

/// <summary>
/// The vhost-user back-end's message stream, as a hostile front-end sends it: the input goes down one end of a Unix
/// socket pair as is (headers, payloads; no file descriptors), then the end closes and the back-end serves the
/// connection to its end. The back-end must refuse bad messages or close the connection, never throw; it turns an
/// exception of its own into an "internal error" close reason to keep serving, which this target reports as a finding.
/// </summary>
internal static class VhostUserTarget
{
    private static VhostUserBackend? s_backend;

    // One thread reads the back-end's replies for every input (starting one per input cost more than the input).
    private static readonly SemaphoreSlim s_drainStart = new(0), s_drained = new(0);
    private static int s_drainFd = -1;
    private static Thread? s_drainer;

    public static unsafe void Run(ReadOnlySpan<byte> data)
    {
        // One back-end per process (it owns a kick thread); every connection starts from a clean state.
        s_backend ??= new VhostUserBackend(memory => new BlockDevice(memory, new MemoryBlockBackend(1 << 20), new BlockDeviceOptions { NumQueues = 2 }));
        int* fds = stackalloc int[2];
        if (Native.SocketPair(Native.AfUnix, Native.SockStream, 0, fds) != 0)
        {
            throw new InvalidOperationException("socketpair failed");
        }

        int front = fds[0];
        if (s_drainer is null)
        {
            s_drainer = new Thread(DrainLoop) { IsBackground = true, Name = "fz-drain" };
            s_drainer.Start();
        }
        fixed (byte* p = data)
        {
            nint written = 0;
            while (written < data.Length)
            {
                nint n = Native.Write(front, p + written, (nuint)(data.Length - written));
                if (n <= 0)
                {
                    break;
                }

                written += n;
            }
        }

        _ = Native.Shutdown(front, Native.ShutWr);
        s_drainFd = front;
        s_drainStart.Release();
        s_backend.Serve(new Virtio.VhostUser.Interop.FileDescriptor(fds[1]));
        s_drained.Wait();
        _ = Native.Close(front);
        if (s_backend.CloseReason is { } reason && reason.StartsWith("internal error", StringComparison.Ordinal))
        {
            throw new InvalidOperationException($"vhost-user back-end: {reason}");
        }
    }

    /// <summary>Reads the back-end's replies until it closes, so that it never blocks on a full socket.</summary>
    private static unsafe void DrainLoop()
    {
        byte* buffer = stackalloc byte[4096];
        while (true)
        {
            s_drainStart.Wait();
            while (Native.Read(s_drainFd, buffer, 4096) > 0)
            {
            }

            s_drained.Release();
        }
    }
}
