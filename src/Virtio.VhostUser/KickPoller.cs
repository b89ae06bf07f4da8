using Virtio.VhostUser.Interop;

namespace Virtio.VhostUser;

/// <summary>
/// One thread per back-end that waits with <c>poll</c> on every started ring's kick eventfd, plus a stop eventfd and a
/// wake eventfd (the set changed), and hands each kick to the device (QEMU's iothread on its ioeventfds; rust-vmm's
/// epoll handler). No thread-pool thread blocks in <c>read</c>.
/// </summary>
/// <remarks>
/// <see cref="SetKick"/> returns only once the poll thread has stopped using the previous descriptor and is outside
/// any kick handler for that ring, so the caller may close it and stop the ring.
/// </remarks>
internal sealed class KickPoller : IDisposable
{
    private readonly FileDescriptor?[] _kicks;
    private readonly bool[] _faulted;
    private readonly Action<int> _onKick;
    private readonly Action<int> _onBadKick;
    private readonly FileDescriptor _stop = EventFd.Create();
    private readonly FileDescriptor _wake = EventFd.Create();
    private readonly Poller.Entry[] _entries;
    private readonly int[] _entryQueue;
    private readonly object _gate = new();
    private readonly Thread _thread;
    private long _generation;
    private long _applied;
    private volatile bool _exited;
    private long _allocated;

    public KickPoller(int queueCount, Action<int> onKick, Action<int> onBadKick, string name)
    {
        _kicks = new FileDescriptor?[queueCount];
        _faulted = new bool[queueCount];
        _entries = new Poller.Entry[queueCount + 2];
        _entryQueue = new int[queueCount + 2];
        _onKick = onKick;
        _onBadKick = onBadKick;
        _thread = new Thread(Run) { IsBackground = true, Name = name };
        _thread.Start();
    }

    /// <summary>Kicks handed to the device.</summary>
    public long Kicks { get; private set; }

    /// <summary>Bytes the poll thread allocated so far (sampled after each kick's handler): the device side's per-request cost.</summary>
    public long AllocatedBytes => Volatile.Read(ref _allocated);

    /// <summary>Sets (or, with null, removes) ring <paramref name="queue"/>'s kick descriptor.</summary>
    /// <returns>The previous descriptor, no longer polled; the caller disposes it.</returns>
    public FileDescriptor? SetKick(int queue, FileDescriptor? fd)
    {
        long generation;
        FileDescriptor? old;
        lock (_gate)
        {
            old = _kicks[queue];
            _kicks[queue] = fd;
            _faulted[queue] = false;
            generation = ++_generation;
        }

        EventFd.Signal(_wake.Value);
        lock (_gate)
        {
            // The poll thread acknowledges each set it builds; a generous deadline only guards against a handler
            // that never returns (then the caller still gets the descriptor back, and must not close what the
            // thread may poll: it is leaked rather than reused under the poller).
            long deadline = Environment.TickCount64 + 30_000;
            while (Volatile.Read(ref _applied) < generation && !_exited && Environment.TickCount64 < deadline)
            {
                Monitor.Wait(_gate, 1000);
            }

            if (Volatile.Read(ref _applied) < generation && !_exited)
            {
                old?.SetHandleAsInvalid(); // never closed: the stuck thread may still poll its number

                return null;
            }
        }

        return old;
    }

    public void Dispose()
    {
        EventFd.Signal(_stop.Value);
        _thread.Join();
        for (int i = 0; i < _kicks.Length; i++)
        {
            _kicks[i]?.Dispose();
            _kicks[i] = null;
        }

        _stop.Dispose();
        _wake.Dispose();
    }

    private void Run()
    {
        try
        {
            while (true)
            {
                int count = 2;
                lock (_gate)
                {
                    _entries[0] = new Poller.Entry(_stop.Value);
                    _entries[1] = new Poller.Entry(_wake.Value);
                    for (int q = 0; q < _kicks.Length; q++)
                    {
                        if (_kicks[q] is { } fd && !_faulted[q])
                        {
                            _entryQueue[count] = q;
                            _entries[count++] = new Poller.Entry(fd.Value);
                        }
                    }

                    Volatile.Write(ref _applied, _generation);
                    Monitor.PulseAll(_gate);
                }

                Poller.Wait(_entries.AsSpan(0, count), -1);
                if (_entries[0].Readable)
                {
                    return;
                }

                if (_entries[1].Readable)
                {
                    EventFd.TryRead(_wake.Value);
                    continue; // rebuild the set before touching any kick: one may have been removed
                }

                for (int i = 2; i < count; i++)
                {
                    Poller.Entry entry = _entries[i];
                    if (entry.Revents == 0)
                    {
                        continue;
                    }

                    int queue = _entryQueue[i];
                    // A descriptor that is not a readable eventfd (a file, a hung-up pipe) would wake poll forever.
                    if (!entry.Readable || EventFd.TryRead(entry.Fd) < 0)
                    {
                        lock (_gate)
                        {
                            _faulted[queue] = true;
                        }

                        _onBadKick(queue);
                        continue;
                    }

                    Kicks++;
                    _onKick(queue);
                    Volatile.Write(ref _allocated, GC.GetAllocatedBytesForCurrentThread());
                }
            }
        }
        finally
        {
            _exited = true;
            lock (_gate)
            {
                Monitor.PulseAll(_gate);
            }
        }
    }
}
