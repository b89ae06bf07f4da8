using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using Virtio.Diagnostics.Tests.Support;
using Virtio.Diagnostics.Watchdog;

namespace Virtio.Diagnostics.Tests.Watchdog;

/// <summary>Stall timeout 10 s, checked every second, on a fake clock.</summary>
public class QueueWatchdogTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);
    private readonly FakeTimeProvider _time = new();
    private readonly CollectingLogger _log = new();

    [Fact]
    public void A_queue_with_work_outstanding_that_never_moves_is_reported_once_after_the_timeout()
    {
        var queue = new ScriptedQueue();
        queue.MakeAvailable();
        using QueueWatchdog watchdog = Create(queue, out List<QueueStallEventArgs> stalls);

        Seconds(10); // the first check (at 1 s) takes the baseline; 10 s later is 11 s
        Assert.Empty(stalls);

        Seconds(1);
        QueueStallEventArgs stall = Assert.Single(stalls);
        Assert.Same(queue, stall.Queue);
        Assert.Equal(Timeout, stall.StalledFor);
        Assert.Equal(1, stall.Progress.NotPopped);

        Seconds(100);
        Assert.Single(stalls);
        Assert.Equal(1, watchdog.StallCount);
    }

    [Fact]
    public void An_idle_queue_is_never_reported()
    {
        var queue = new ScriptedQueue();
        queue.MakeAvailable(3);
        for (int i = 0; i < 3; i++)
        {
            queue.CompleteOne();
        }

        using QueueWatchdog watchdog = Create(queue, out List<QueueStallEventArgs> stalls);
        Seconds(120);

        Assert.Empty(stalls);
    }

    [Fact]
    public void A_slow_queue_that_moves_every_nine_tenths_of_the_timeout_is_never_reported()
    {
        var queue = new ScriptedQueue();
        queue.MakeAvailable(100);
        using QueueWatchdog watchdog = Create(queue, out List<QueueStallEventArgs> stalls);

        for (int i = 0; i < 20; i++)
        {
            Seconds(9);
            queue.CompleteOne();
        }

        Assert.Empty(stalls);
    }

    [Fact]
    public void A_driver_adding_work_to_a_device_that_does_not_pop_is_still_a_stall()
    {
        var queue = new ScriptedQueue();
        queue.MakeAvailable();
        using QueueWatchdog watchdog = Create(queue, out List<QueueStallEventArgs> stalls);

        for (int i = 0; i < 11; i++)
        {
            Seconds(1);
            queue.MakeAvailable();
        }

        Assert.Single(stalls);
    }

    [Fact]
    public void The_watchdog_re_arms_when_progress_resumes_and_reports_the_next_stall()
    {
        var queue = new ScriptedQueue();
        queue.MakeAvailable(2);
        using QueueWatchdog watchdog = Create(queue, out List<QueueStallEventArgs> stalls);
        Seconds(15);
        Assert.Single(stalls);

        queue.CompleteOne(); // one left: still outstanding, but moving
        Seconds(1);
        Assert.Contains(_log.Entries, e => e.Id.Name == "virtio_queue_progress_resumed");

        Seconds(9);
        Assert.Single(stalls);
        Seconds(1);
        Assert.Equal(2, stalls.Count);
    }

    [Fact]
    public void Work_arriving_on_an_idle_queue_starts_the_stall_clock_from_the_last_idle_check()
    {
        var queue = new ScriptedQueue();
        using QueueWatchdog watchdog = Create(queue, out List<QueueStallEventArgs> stalls);
        Seconds(30);

        queue.MakeAvailable();
        Seconds(9);
        Assert.Empty(stalls);
        Seconds(1);
        Assert.Single(stalls);
    }

    [Fact]
    public void The_diagnosis_text_reaches_the_event_and_the_log()
    {
        var queue = new ScriptedQueue("virtio-blk", 2);
        queue.MakeAvailable();
        using QueueWatchdog watchdog = Create(queue, out List<QueueStallEventArgs> stalls, q => $"verdict for {q.Name}/{q.Index}: device-missed-kick");
        Seconds(11);

        Assert.Equal("verdict for virtio-blk/2: device-missed-kick", Assert.Single(stalls).Diagnosis);
        (LogLevel level, EventId id, string message) = Assert.Single(_log.Entries, e => e.Id.Name == "virtio_queue_stalled");
        Assert.Equal(LogLevel.Warning, level);
        Assert.Equal("virtio-blk queue 2: no progress for 10000 ms with work outstanding: verdict for virtio-blk/2: device-missed-kick", message);
    }

    [Fact]
    public void Without_a_diagnosis_callback_the_event_carries_a_summary_of_the_numbers()
    {
        var queue = new ScriptedQueue("virtio-net", 1);
        queue.MakeAvailable(3);
        queue.CompleteOne();
        queue.Progress = queue.Progress with { LastAvailIdx = 2, InUse = 1 };
        using QueueWatchdog watchdog = Create(queue, out List<QueueStallEventArgs> stalls);
        Seconds(11);

        Assert.Equal(
            "virtio-net queue 1: 1 not popped, 1 in use, 0 not consumed (avail->idx 3, last_avail_idx 2, shadow_avail_idx 3, used_idx 1, inuse 1, driver consumed 1)",
            Assert.Single(stalls).Diagnosis);
    }

    [Fact]
    public void A_diagnosis_that_throws_still_reports_the_stall_with_the_summary()
    {
        var queue = new ScriptedQueue();
        queue.MakeAvailable();
        using QueueWatchdog watchdog = Create(queue, out List<QueueStallEventArgs> stalls, _ => throw new InvalidOperationException("boom"));
        Seconds(11);

        Assert.StartsWith("diagnosis failed (InvalidOperationException: boom); virtio-scripted queue 0: 1 not popped", Assert.Single(stalls).Diagnosis);
    }

    [Fact]
    public void A_handler_that_throws_on_the_timer_thread_is_logged_not_propagated()
    {
        var queue = new ScriptedQueue();
        queue.MakeAvailable();
        using QueueWatchdog watchdog = Create(queue, out _);
        watchdog.Stalled += (_, _) => throw new InvalidOperationException("handler bug");
        Seconds(11);

        Assert.Contains(_log.Entries, e => e.Id.Name == "virtio_watchdog_check_failed" && e.Level == LogLevel.Error);
        Assert.Equal(1, watchdog.StallCount);
    }

    [Fact]
    public void Each_of_several_queues_is_judged_on_its_own_numbers()
    {
        var stuck = new ScriptedQueue("virtio-blk", 0);
        var moving = new ScriptedQueue("virtio-blk", 1);
        stuck.MakeAvailable();
        moving.MakeAvailable(10);
        using QueueWatchdog watchdog = Create(stuck, out List<QueueStallEventArgs> stalls);
        watchdog.Watch(moving);
        for (int i = 0; i < 5; i++)
        {
            Seconds(5);
            moving.CompleteOne();
        }

        Assert.Same(stuck, Assert.Single(stalls).Queue);
    }

    [Fact]
    public void Check_can_be_driven_by_hand_without_a_timer()
    {
        var queue = new ScriptedQueue();
        queue.MakeAvailable();
        using var watchdog = new QueueWatchdog(new QueueWatchdogOptions { TimeProvider = _time, StallTimeout = Timeout, CheckPeriod = TimeSpan.Zero });
        watchdog.Watch(queue);

        Assert.Equal(0, watchdog.Check());
        Seconds(10);
        Assert.Equal(0, watchdog.StallCount); // no timer ran
        Assert.Equal(1, watchdog.Check());
        Assert.Equal(0, watchdog.Check());
    }

    [Fact]
    public void Dispose_stops_the_timer()
    {
        var queue = new ScriptedQueue();
        queue.MakeAvailable();
        QueueWatchdog watchdog = Create(queue, out List<QueueStallEventArgs> stalls);
        Seconds(5);
        watchdog.Dispose();
        Seconds(30);

        Assert.Empty(stalls);
    }

    [Fact]
    public void An_unwatched_queue_is_no_longer_checked_and_a_queue_cannot_be_watched_twice()
    {
        var queue = new ScriptedQueue();
        queue.MakeAvailable();
        using QueueWatchdog watchdog = Create(queue, out List<QueueStallEventArgs> stalls);
        Assert.Throws<ArgumentException>(() => watchdog.Watch(queue));

        Assert.True(watchdog.Unwatch(queue));
        Assert.False(watchdog.Unwatch(queue));
        Seconds(30);
        Assert.Empty(stalls);
        Assert.Empty(watchdog.Queues);
    }

    private QueueWatchdog Create(IWatchedQueue queue, out List<QueueStallEventArgs> stalls, Func<IWatchedQueue, string>? diagnose = null)
    {
        var watchdog = new QueueWatchdog(
            new QueueWatchdogOptions { TimeProvider = _time, StallTimeout = Timeout, CheckPeriod = TimeSpan.FromSeconds(1), Diagnose = diagnose },
            _log);
        var seen = new List<QueueStallEventArgs>();
        watchdog.Stalled += (_, e) => seen.Add(e);
        watchdog.Watch(queue);
        stalls = seen;
        return watchdog;
    }

    /// <summary>Advances the fake clock one second at a time, so the periodic timer fires at each.</summary>
    private void Seconds(int count)
    {
        for (int i = 0; i < count; i++)
        {
            _time.Advance(TimeSpan.FromSeconds(1));
        }
    }
}
