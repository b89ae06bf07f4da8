using Virtio.VhostUser.Interop;

namespace Virtio.VhostUser;

/// <summary>
/// One thread per back-end that waits with <c>poll</c> on every started ring's kick eventfd, plus a stop eventfd and a
/// wake eventfd (the set changed), and hands each kick to the device (QEMU's iothread on its ioeventfds; rust-vmm's
/// epoll handler). No thread-pool thread blocks in <c>read</c>.
/// </summary>
/// <remarks>
/// <para>With a busy-poll target, a kick starts a polling spell (Linux vhost's <c>vhost_net_busy_poll</c>, DPDK's vhost
/// PMD): the thread serves every watched ring in turn without waiting, notifications left off, until no ring has moved
/// for the idle time, a watched descriptor changes or the poller stops; then it ends the spell on each ring (which
/// re-enables notifications and re-checks) and sleeps in <c>poll</c> again.</para>
/// <para><see cref="SetKick"/> returns only once the poll thread has stopped using the previous descriptor and is outside
/// any kick handler for that ring, so the caller may close it and stop the ring.</para>
/// </remarks>
internal sealed class KickPoller : IDisposable
{
    private readonly FileDescriptor?[] _kicks;
    private readonly bool[] _faulted;
    private readonly Action<int> _onKick;
    private readonly Action<int> _onBadKick;
    private readonly IBusyPollTarget? _pollTarget;
    private readonly long _pollIdleMs;
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

    public KickPoller(int queueCount, Action<int> onKick, Action<int> onBadKick, string name, IBusyPollTarget? pollTarget = null, TimeSpan pollIdle = default)
    {
        _pollTarget = pollTarget;
        _pollIdleMs = Math.Max(1, (long)pollIdle.TotalMilliseconds);
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

    /// <summary>Busy-poll spells ended (each with notifications re-enabled on every ring it polled).</summary>
    public long PollSpells { get; private set; }

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

    /// <summary>
    /// Serves the watched rings (entries 2..count) in turn until none moved for the idle time, or the stop or wake
    /// eventfd is readable (looked at every 256 rounds: a poll(0) per round would cost more than a round); then ends
    /// the spell on each ring.
    /// </summary>
    private void BusyPoll(int count)
    {
        IBusyPollTarget target = _pollTarget!;
        Span<Poller.Entry> control = stackalloc Poller.Entry[2];
        long lastWork = Environment.TickCount64;
        bool worked = false;
        for (int round = 1; ; round++)
        {
            for (int i = 2; i < count; i++)
            {
                worked |= target.Poll(_entryQueue[i]);
            }

            if ((round & 255) != 0)
            {
                continue;
            }

            long now = Environment.TickCount64;
            if (worked)
            {
                lastWork = now;
                worked = false;
            }
            else if (now - lastWork >= _pollIdleMs)
            {
                break;
            }

            Volatile.Write(ref _allocated, GC.GetAllocatedBytesForCurrentThread());
            control[0] = new Poller.Entry(_stop.Value);
            control[1] = new Poller.Entry(_wake.Value);
            if (Poller.Wait(control, 0) > 0)
            {
                break; // stop, or the set changed: end the spell before the set is rebuilt
            }
        }

        for (int i = 2; i < count; i++)
        {
            target.EndPoll(_entryQueue[i]);
        }

        PollSpells++;
        Volatile.Write(ref _allocated, GC.GetAllocatedBytesForCurrentThread());
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

                if (_pollTarget is not null)
                {
                    BusyPoll(count);
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
