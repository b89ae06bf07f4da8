using System.Threading.Tasks.Sources;

namespace Virtio.Notifications;

/// <summary>
/// The in-process <see cref="IEventNotifier"/>: an eventfd-like counter with a blocking waiter and a pooled
/// <see cref="ValueTask"/> waiter. Signalling and waking allocate nothing.
/// </summary>
/// <remarks>
/// Lost wake-ups are impossible by construction: the signaller increments the counter with a full fence and then
/// looks for sleepers; a waiter registers as a sleeper with a full fence and then re-reads the counter before it
/// sleeps (the same Dekker pattern as the ring's EVENT_IDX protocol).
/// </remarks>
public sealed class EventNotifier : IEventNotifier, IValueTaskSource
{
    private const int AsyncIdle = 0;
    private const int AsyncArming = 1;
    private const int AsyncArmed = 2;
    private const int AsyncCompleting = 3;

    private readonly object _gate = new();
    private readonly int _spinIterations;
    private long _count;
    private long _consumed;
    private long _wakeups;
    private int _sleepers;

    private ManualResetValueTaskSourceCore<bool> _async;
    private int _asyncState;
    private CancellationTokenRegistration _cancellation;

    /// <summary>Creates a notifier.</summary>
    /// <param name="spinIterations">
    /// How many times <see cref="Wait"/> polls the counter with <see cref="Thread.SpinWait(int)"/> before it sleeps.
    /// 0 (the default) sleeps at once, as a read on an eventfd does; a small value trades CPU for wake-up latency.
    /// </param>
    /// <param name="runContinuationsAsynchronously">
    /// True (the default) runs <see cref="WaitAsync"/> continuations on the thread pool rather than on the signalling
    /// thread, so a device's work never runs on the vCPU thread that kicked it.
    /// </param>
    public EventNotifier(int spinIterations = 0, bool runContinuationsAsynchronously = true)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(spinIterations);
        _spinIterations = spinIterations;
        _async.RunContinuationsAsynchronously = runContinuationsAsynchronously;
    }

    /// <inheritdoc />
    public bool IsSet => Volatile.Read(ref _count) != 0;

    /// <inheritdoc />
    public long SignalCount => Volatile.Read(ref _consumed) + Volatile.Read(ref _count);

    /// <inheritdoc />
    public long WakeCount => Volatile.Read(ref _wakeups);

    /// <inheritdoc />
    public void Signal()
    {
        Interlocked.Increment(ref _count); // full fence: the counter is visible before we look for sleepers
        if (Volatile.Read(ref _sleepers) != 0)
        {
            lock (_gate)
            {
                Monitor.PulseAll(_gate);
            }
        }

        if (Volatile.Read(ref _asyncState) == AsyncArmed)
        {
            CompleteAsyncWaiter();
        }
    }

    /// <inheritdoc />
    public ulong TestAndClear()
    {
        if (Volatile.Read(ref _count) == 0)
        {
            return 0;
        }

        long n = Interlocked.Exchange(ref _count, 0);
        Volatile.Write(ref _consumed, _consumed + n); // one consumer: plain read-modify-write is safe
        return (ulong)n;
    }

    /// <inheritdoc />
    public bool Wait(int millisecondsTimeout)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(millisecondsTimeout, Timeout.Infinite);
        if (Volatile.Read(ref _count) != 0)
        {
            return true;
        }

        for (int i = 0; i < _spinIterations; i++)
        {
            Thread.SpinWait(20);
            if (Volatile.Read(ref _count) != 0)
            {
                return true;
            }
        }

        if (millisecondsTimeout == 0)
        {
            return false;
        }

        long start = millisecondsTimeout == Timeout.Infinite ? 0 : Environment.TickCount64;
        Interlocked.Increment(ref _sleepers); // full fence before the re-check below
        try
        {
            lock (_gate)
            {
                bool slept = false;
                while (Volatile.Read(ref _count) == 0)
                {
                    int remaining = Timeout.Infinite;
                    if (millisecondsTimeout != Timeout.Infinite)
                    {
                        remaining = (int)Math.Max(0, millisecondsTimeout - (Environment.TickCount64 - start));
                        if (remaining == 0)
                        {
                            return false;
                        }
                    }

                    slept = true;
                    Monitor.Wait(_gate, remaining);
                }

                if (slept)
                {
                    Interlocked.Increment(ref _wakeups);
                }

                return true;
            }
        }
        finally
        {
            Interlocked.Decrement(ref _sleepers);
        }
    }

    /// <inheritdoc />
    /// <remarks>Allocates nothing when <paramref name="cancellationToken"/> cannot be cancelled.</remarks>
    /// <exception cref="InvalidOperationException">Another <see cref="WaitAsync"/> is pending.</exception>
    public ValueTask WaitAsync(CancellationToken cancellationToken = default)
    {
        if (Volatile.Read(ref _count) != 0)
        {
            return ValueTask.CompletedTask;
        }

        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled(cancellationToken);
        }

        if (Interlocked.CompareExchange(ref _asyncState, AsyncArming, AsyncIdle) != AsyncIdle)
        {
            throw new InvalidOperationException("an event notifier has one consumer: another WaitAsync is pending");
        }

        _async.Reset();
        short version = _async.Version;
        if (cancellationToken.CanBeCanceled)
        {
            _cancellation = cancellationToken.UnsafeRegister(static (s, ct) => ((EventNotifier)s!).CancelAsyncWaiter(ct), this);
        }

        Interlocked.Exchange(ref _asyncState, AsyncArmed); // full fence before the re-checks: no lost wake-up
        if (Volatile.Read(ref _count) != 0)
        {
            CompleteAsyncWaiter();
        }
        else if (cancellationToken.IsCancellationRequested)
        {
            // A cancellation that landed while arming (including UnsafeRegister's synchronous callback) found the
            // state not yet Armed and did nothing: the token's flag is set before its callbacks run, so look again.
            CancelAsyncWaiter(cancellationToken);
        }

        return new ValueTask(this, version);
    }

    void IValueTaskSource.GetResult(short token)
    {
        try
        {
            _async.GetResult(token);
        }
        finally
        {
            _cancellation.Dispose();
            _cancellation = default;
            Volatile.Write(ref _asyncState, AsyncIdle);
        }
    }

    ValueTaskSourceStatus IValueTaskSource.GetStatus(short token) => _async.GetStatus(token);

    void IValueTaskSource.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
        => _async.OnCompleted(continuation, state, token, flags);

    private void CompleteAsyncWaiter()
    {
        if (Interlocked.CompareExchange(ref _asyncState, AsyncCompleting, AsyncArmed) == AsyncArmed)
        {
            Interlocked.Increment(ref _wakeups);
            _async.SetResult(true);
        }
    }

    private void CancelAsyncWaiter(CancellationToken token)
    {
        if (Interlocked.CompareExchange(ref _asyncState, AsyncCompleting, AsyncArmed) == AsyncArmed)
        {
            _async.SetException(new OperationCanceledException(token));
        }
    }
}
