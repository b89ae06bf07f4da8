using Virtio.Notifications;
using Virtio.Testing;

namespace Virtio.Core.Tests.Notifications;

[CollectionDefinition("Threads", DisableParallelization = true)]
public class ThreadsCollection
{
}

[Collection("Threads")]
public class EventNotifierTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public void Signals_coalesce_into_one_count()
    {
        var n = new EventNotifier();
        n.Signal();
        n.Signal();
        n.Signal();
        Assert.True(n.IsSet);
        Assert.Equal(3UL, n.TestAndClear());
        Assert.False(n.IsSet);
        Assert.Equal(0UL, n.TestAndClear());
        Assert.Equal(3, n.SignalCount);
    }

    [Fact]
    public void Signal_count_spans_clears()
    {
        var n = new EventNotifier();
        n.Signal();
        n.TestAndClear();
        n.Signal();
        Assert.Equal(2, n.SignalCount);
    }

    [Fact]
    public void Wait_returns_at_once_when_set_and_does_not_clear()
    {
        var n = new EventNotifier();
        n.Signal();
        Assert.True(n.Wait(0));
        Assert.True(n.Wait(1000));
        Assert.True(n.IsSet);
        Assert.Equal(0, n.WakeCount); // nobody slept
    }

    [Fact]
    public void Wait_times_out_when_nobody_signals()
    {
        var n = new EventNotifier();
        Assert.False(n.Wait(0));
        Assert.False(n.Wait(30));
    }

    [Fact]
    public void Sleeping_waiter_is_woken_by_a_signal_from_another_thread()
    {
        var n = new EventNotifier();
        var waiter = Task.Factory.StartNew(() => n.Wait(30_000), TaskCreationOptions.LongRunning);
        SpinWait.SpinUntil(() => waiter.Status == TaskStatus.Running);
        n.Signal();
        Assert.True(waiter.Wait(Timeout));
        Assert.True(waiter.Result);
    }

    [Fact]
    public async Task WaitAsync_completes_synchronously_when_set()
    {
        var n = new EventNotifier();
        n.Signal();
        ValueTask t = n.WaitAsync();
        Assert.True(t.IsCompletedSuccessfully);
        await t;
    }

    [Fact]
    public async Task WaitAsync_completes_when_another_thread_signals()
    {
        var n = new EventNotifier();
        ValueTask t = n.WaitAsync();
        Assert.False(t.IsCompleted);
        _ = Task.Run(n.Signal);
        await t.AsTask().WaitAsync(Timeout);
        Assert.Equal(1UL, n.TestAndClear());
        Assert.Equal(1, n.WakeCount);
    }

    [Fact]
    public async Task Second_concurrent_WaitAsync_is_refused()
    {
        var n = new EventNotifier();
        Task first = n.WaitAsync().AsTask();
        Assert.Throws<InvalidOperationException>(() => { _ = n.WaitAsync().AsTask(); });
        n.Signal();
        await first.WaitAsync(Timeout);
    }

    [Fact]
    public async Task WaitAsync_is_cancelled_by_its_token()
    {
        var n = new EventNotifier();
        using var cts = new CancellationTokenSource();
        ValueTask t = n.WaitAsync(cts.Token);
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await t);
        n.Signal();
        await n.WaitAsync(); // usable again
    }

    [Fact]
    public async Task WaitAsync_with_an_already_cancelled_token_is_cancelled()
    {
        var n = new EventNotifier();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await n.WaitAsync(new CancellationToken(true)));
    }

    [Fact]
    public async Task WaitAsync_with_a_source_cancelled_before_the_call_is_cancelled_and_leaves_the_notifier_usable()
    {
        var n = new EventNotifier();
        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await n.WaitAsync(cts.Token));
        n.Signal();
        await n.WaitAsync().AsTask().WaitAsync(Timeout);
    }

    [Fact]
    public void WaitAsync_is_cancelled_by_a_cancellation_that_lands_while_the_waiter_is_being_set_up()
    {
        // A second thread cancels at varying moments around the call: some land before it, some after it, and some
        // while it arms (UnsafeRegister then runs the callback synchronously). Every one must end the wait; a lost one
        // would wait for a Signal that never comes.
        var n = new EventNotifier();
        using var go = new SemaphoreSlim(0);
        using var done = new SemaphoreSlim(0);
        CancellationTokenSource? current = null;
        int delay = 0;
        var canceller = Task.Factory.StartNew(
            () =>
            {
                while (go.Wait(Timeout) && Volatile.Read(ref current) is { } cts)
                {
                    Thread.SpinWait(Volatile.Read(ref delay));
                    cts.Cancel();
                    done.Release();
                }
            },
            TaskCreationOptions.LongRunning);
        try
        {
            for (int i = 0; i < 20_000; i++)
            {
                using var cts = new CancellationTokenSource();
                Volatile.Write(ref current, cts);
                Volatile.Write(ref delay, i % 64);
                go.Release();
                ValueTask wait = n.WaitAsync(cts.Token);
                Task task = wait.AsTask();
                Assert.True(((IAsyncResult)task).AsyncWaitHandle.WaitOne(Timeout), $"iteration {i}: the cancellation was lost and the wait hangs");
                Assert.True(task.IsCanceled, $"iteration {i}: {task.Status}");
                Assert.True(done.Wait(Timeout));
            }
        }
        finally
        {
            Volatile.Write(ref current, null);
            go.Release();
            Assert.True(canceller.Wait(Timeout));
        }
    }

    [Fact]
    public async Task WaitAsync_can_be_reused_many_times()
    {
        var n = new EventNotifier();
        for (int i = 0; i < 1000; i++)
        {
            ValueTask t = n.WaitAsync();
            n.Signal();
            await t;
            Assert.Equal(1UL, n.TestAndClear());
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(50)]
    public void Two_threads_ping_pong_100000_times_without_losing_a_wake_up(int spin)
    {
        var ping = new EventNotifier(spin);
        var pong = new EventNotifier(spin);
        const int Rounds = 100_000;
        var other = Task.Factory.StartNew(() =>
        {
            for (int i = 0; i < Rounds; i++)
            {
                if (!ping.Wait((int)Timeout.TotalMilliseconds))
                {
                    return false;
                }

                ping.TestAndClear();
                pong.Signal();
            }

            return true;
        }, TaskCreationOptions.LongRunning);

        for (int i = 0; i < Rounds; i++)
        {
            ping.Signal();
            Assert.True(pong.Wait((int)Timeout.TotalMilliseconds), $"lost wake-up at round {i}");
            pong.TestAndClear();
        }

        Assert.True(other.Wait(Timeout));
        Assert.True(other.Result);
        Assert.Equal(Rounds, ping.SignalCount);
    }

    [Fact]
    public void Signal_and_clear_allocate_nothing()
    {
        var n = new EventNotifier();
        for (int i = 0; i < 100; i++)
        {
            n.Signal();
            n.TestAndClear();
        }

        Assert.Equal(0, SteadyState.AllocatedBytes(() =>
        {
            for (int i = 0; i < 10_000; i++)
            {
                n.Signal();
                n.TestAndClear();
                n.Wait(0);
            }
        }));
    }

    [Fact]
    public void Async_wait_and_wake_cycles_allocate_nothing_after_warm_up()
    {
        // With inline continuations the awaiting loop resumes on the signalling thread, so that thread's own
        // allocation counter sees both sides of every cycle: the await, the pooled completion and the wake-up.
        var n = new EventNotifier(runContinuationsAsynchronously: false);
        int cycles = 0;
        async Task Consumer()
        {
            while (true)
            {
                await n.WaitAsync().ConfigureAwait(false); // no sync context: resume inline in Signal
                n.TestAndClear();
                cycles++;
            }
        }

        _ = Consumer();
        for (int i = 0; i < 1000; i++)
        {
            n.Signal();
        }

        long allocated = SteadyState.AllocatedBytes(() =>
        {
            for (int i = 0; i < 20_000; i++)
            {
                n.Signal();
            }
        });
        Assert.True(cycles > 1000 && (cycles - 1000) % 20_000 == 0, $"{cycles} cycles: a wake-up was lost");
        Assert.Equal(0, allocated);
    }

    [Fact]
    public void Negative_spin_or_timeout_is_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new EventNotifier(-1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new EventNotifier().Wait(-2));
    }
}
