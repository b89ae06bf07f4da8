using Virtio.Notifications;
using Virtio.VhostUser.Interop;

namespace Virtio.VhostUser;

/// <summary>
/// An <see cref="IEventNotifier"/> over a Linux eventfd: a vhost-user kick or call channel shared with another process.
/// <see cref="Signal"/> is one 8-byte <c>write</c>; <see cref="TestAndClear"/> one <c>read</c>. The descriptor can be
/// swapped while in use (QEMU passes a new call fd when it masks or unmasks a vector), under a lock so that no
/// signal goes to a descriptor that was closed.
/// </summary>
/// <remarks>Waiting uses <c>poll</c>, never a blocking <c>read</c>, so a waiter times out and notices disposal.</remarks>
public sealed class EventFdNotifier : IEventNotifier, IDisposable
{
    private readonly Lock _lock = new();
    private FileDescriptor? _fd;
    private long _signals;
    private long _wakes;

    /// <summary>A notifier over a new eventfd (non-blocking, close-on-exec) that it owns.</summary>
    public EventFdNotifier()
        : this(EventFd.Create())
    {
    }

    /// <summary>A notifier over <paramref name="fd"/>, which it owns (null: no channel yet; signals are dropped).</summary>
    public EventFdNotifier(FileDescriptor? fd) => _fd = fd;

    /// <summary>The eventfd's number, -1 when there is none; for passing it to another process.</summary>
    public int Fd
    {
        get
        {
            lock (_lock)
            {
                return _fd?.Value ?? -1;
            }
        }
    }

    /// <inheritdoc/>
    public bool IsSet => Poll(0);

    /// <inheritdoc/>
    public long SignalCount => Volatile.Read(ref _signals);

    /// <inheritdoc/>
    public long WakeCount => Volatile.Read(ref _wakes);

    /// <summary>Signals that found no usable descriptor (none set, or the write failed).</summary>
    public long LostSignals { get; private set; }

    /// <inheritdoc/>
    public void Signal()
    {
        Interlocked.Increment(ref _signals);
        lock (_lock)
        {
            if (_fd is null || !EventFd.Signal(_fd.Value))
            {
                LostSignals++;
            }
        }
    }

    /// <inheritdoc/>
    public ulong TestAndClear()
    {
        lock (_lock)
        {
            // poll first: a front-end's eventfd may be blocking, and an idle read must not block.
            if (_fd is null || !PollLocked(_fd.Value, 0))
            {
                return 0;
            }

            long value = EventFd.TryRead(_fd.Value);
            return value > 0 ? (ulong)value : 0;
        }
    }

    /// <inheritdoc/>
    public bool Wait(int millisecondsTimeout)
    {
        if (Poll(0))
        {
            return true;
        }

        bool woke = Poll(millisecondsTimeout);
        if (woke)
        {
            Interlocked.Increment(ref _wakes);
        }

        return woke;
    }

    /// <inheritdoc/>
    /// <remarks>Waits on a dedicated thread (not a thread-pool one) that polls in 100 ms slices to see cancellation.</remarks>
    public ValueTask WaitAsync(CancellationToken cancellationToken = default)
    {
        if (Poll(0))
        {
            return ValueTask.CompletedTask;
        }

        return new ValueTask(Task.Factory.StartNew(
            () =>
            {
                while (!Wait(100))
                {
                    cancellationToken.ThrowIfCancellationRequested();
                }
            },
            cancellationToken,
            TaskCreationOptions.LongRunning,
            TaskScheduler.Default));
    }

    /// <summary>Puts <paramref name="fd"/> in place of the current descriptor, which is closed.</summary>
    public void Replace(FileDescriptor? fd)
    {
        FileDescriptor? old;
        lock (_lock)
        {
            old = _fd;
            _fd = fd;
        }

        old?.Dispose();
    }

    /// <summary>Closes the descriptor.</summary>
    public void Dispose() => Replace(null);

    private bool Poll(int timeout)
    {
        int fd;
        lock (_lock)
        {
            if (_fd is null)
            {
                return false;
            }

            if (timeout == 0)
            {
                return PollLocked(_fd.Value, 0);
            }

            fd = _fd.Value;
        }

        // A long wait outside the lock, so that Signal and Replace are not held up; a descriptor replaced meanwhile
        // only ends this wait early (POLLNVAL) or late (the timeout), never misdirects a signal.
        return PollLocked(fd, timeout);
    }

    private static bool PollLocked(int fd, int timeout)
    {
        Span<Poller.Entry> entry = [new Poller.Entry(fd)];
        return Poller.Wait(entry, timeout) > 0 && entry[0].Readable;
    }
}
