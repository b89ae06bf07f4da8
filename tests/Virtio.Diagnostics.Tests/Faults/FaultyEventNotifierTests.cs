using Microsoft.Extensions.Time.Testing;
using Virtio.Diagnostics.Faults;
using Virtio.Notifications;

namespace Virtio.Diagnostics.Tests.Faults;

public class FaultyEventNotifierTests
{
    [Fact]
    public void Dropping_the_nth_signal_drops_that_one_only()
    {
        Assert.Equal([1, 1, 0, 1, 1, 1], Deliveries(new SignalFaultPlan().Drop(SignalSelector.Nth(3)), 6));
    }

    [Fact]
    public void Dropping_every_nth_signal_drops_the_multiples_of_n()
    {
        Assert.Equal([1, 1, 0, 1, 1, 0, 1, 1, 0, 1], Deliveries(new SignalFaultPlan().Drop(SignalSelector.EveryNth(3)), 10));
    }

    [Fact]
    public void Dropping_the_first_n_signals_lets_the_rest_through()
    {
        Assert.Equal([0, 0, 1, 1, 1], Deliveries(new SignalFaultPlan().Drop(SignalSelector.First(2)), 5));
    }

    [Fact]
    public void Dropping_after_a_condition_drops_every_signal_from_the_first_where_it_holds_even_once_it_no_longer_does()
    {
        int ringIndex = 0;
        var plan = new SignalFaultPlan().Drop(SignalSelector.After(() => ringIndex == 3));
        var inner = new EventNotifier();
        var faulty = new FaultyEventNotifier(inner, plan);
        var passed = new List<int>();
        for (int i = 1; i <= 6; i++)
        {
            ringIndex = i; // true at signal 3 only: the rule latches
            long before = inner.SignalCount;
            faulty.Signal();
            passed.Add((int)(inner.SignalCount - before));
        }

        Assert.Equal([1, 1, 0, 0, 0, 0], passed);
    }

    [Fact]
    public void Dropping_all_signals_lets_none_through()
    {
        Assert.Equal([0, 0, 0], Deliveries(new SignalFaultPlan().Drop(SignalSelector.All), 3));
    }

    [Fact]
    public void A_default_selector_picks_no_signal()
    {
        Assert.Equal([1, 1, 1], Deliveries(new SignalFaultPlan().Drop(default), 3));
    }

    [Fact]
    public void Probability_drops_are_the_same_for_the_same_seed()
    {
        int[] first = Deliveries(new SignalFaultPlan { Seed = 42 }.Drop(SignalSelector.WithProbability(0.3)), 200);
        int[] second = Deliveries(new SignalFaultPlan { Seed = 42 }.Drop(SignalSelector.WithProbability(0.3)), 200);
        Assert.Equal(first, second);
        Assert.InRange(first.Count(d => d == 0), 30, 90); // about 60 of 200 dropped
    }

    [Fact]
    public void Probability_drops_differ_between_seeds()
    {
        int[] a = Deliveries(new SignalFaultPlan { Seed = 1 }.Drop(SignalSelector.WithProbability(0.5)), 100);
        int[] b = Deliveries(new SignalFaultPlan { Seed = 2 }.Drop(SignalSelector.WithProbability(0.5)), 100);
        Assert.NotEqual(a, b);
    }

    [Fact]
    public void Probability_zero_drops_nothing_and_probability_one_drops_everything()
    {
        Assert.All(Deliveries(new SignalFaultPlan { Seed = 3 }.Drop(SignalSelector.WithProbability(0)), 50), d => Assert.Equal(1, d));
        Assert.All(Deliveries(new SignalFaultPlan { Seed = 3 }.Drop(SignalSelector.WithProbability(1)), 50), d => Assert.Equal(0, d));
    }

    [Fact]
    public void Probability_drops_from_many_threads_still_give_signal_n_the_nth_draw()
    {
        var plan = new SignalFaultPlan { Seed = 9 }.Drop(SignalSelector.WithProbability(0.25));
        long expected = Deliveries(plan, 8000).Count(d => d == 0);

        var faulty = new FaultyEventNotifier(new EventNotifier(), plan);
        Parallel.For(0, 4, _ =>
        {
            for (int i = 0; i < 2000; i++)
            {
                faulty.Signal();
            }
        });

        Assert.Equal(expected, faulty.Dropped);
        Assert.Equal(8000 - expected, faulty.Delivered);
    }

    [Fact]
    public void Counted_drops_from_many_threads_are_exact()
    {
        var inner = new EventNotifier();
        var faulty = new FaultyEventNotifier(inner, new SignalFaultPlan().Drop(SignalSelector.EveryNth(10)));
        Parallel.For(0, 4, _ =>
        {
            for (int i = 0; i < 10_000; i++)
            {
                faulty.Signal();
            }
        });

        Assert.Equal(40_000, faulty.SignalsSeen);
        Assert.Equal(4_000, faulty.Dropped);
        Assert.Equal(36_000, faulty.Delivered);
        Assert.Equal(36_000, inner.SignalCount);
    }

    [Fact]
    public void Duplicating_delivers_each_signal_twice()
    {
        var inner = new EventNotifier();
        var faulty = new FaultyEventNotifier(inner, new SignalFaultPlan().Duplicate(SignalSelector.All));
        for (int i = 0; i < 3; i++)
        {
            faulty.Signal();
        }

        Assert.Equal(6UL, faulty.TestAndClear()); // the eventfd counter saw every copy
        Assert.Equal(3, faulty.Duplicated);
        Assert.Equal(6, faulty.Delivered);
    }

    [Fact]
    public void The_first_rule_that_picks_a_signal_decides_its_fate()
    {
        var plan = new SignalFaultPlan().Drop(SignalSelector.Nth(2)).Duplicate(SignalSelector.All);
        Assert.Equal([2, 0, 2], Deliveries(plan, 3));
    }

    [Fact]
    public void A_delay_without_a_time_holds_signals_until_Release()
    {
        var inner = new EventNotifier();
        var faulty = new FaultyEventNotifier(inner, new SignalFaultPlan().Delay(SignalSelector.First(2)));
        faulty.Signal();
        faulty.Signal();

        Assert.False(faulty.IsSet);
        Assert.Equal(2, faulty.Pending);
        Assert.Equal(2, faulty.Delayed);
        Assert.Equal(0, faulty.Delivered);

        Assert.Equal(2, faulty.Release());
        Assert.Equal(2UL, faulty.TestAndClear());
        Assert.Equal(0, faulty.Pending);
        Assert.Equal(0, faulty.Release());

        faulty.Signal(); // the third passes
        Assert.Equal(1UL, faulty.TestAndClear());
    }

    [Fact]
    public void A_timed_delay_is_delivered_when_the_clock_passes_it()
    {
        var time = new FakeTimeProvider();
        var inner = new EventNotifier();
        using var faulty = new FaultyEventNotifier(inner, new SignalFaultPlan { TimeProvider = time }.Delay(SignalSelector.All, TimeSpan.FromMilliseconds(10)));
        faulty.Signal();

        time.Advance(TimeSpan.FromMilliseconds(9));
        Assert.False(inner.IsSet);
        Assert.Equal(1, faulty.Pending);

        time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal(1UL, inner.TestAndClear());
        Assert.Equal(0, faulty.Pending);
        Assert.Equal(1, faulty.Delivered);
    }

    [Fact]
    public void Timed_delays_of_different_lengths_are_each_delivered_at_their_own_time()
    {
        var time = new FakeTimeProvider();
        var inner = new EventNotifier();
        var plan = new SignalFaultPlan { TimeProvider = time }
            .Delay(SignalSelector.Nth(1), TimeSpan.FromMilliseconds(30))
            .Delay(SignalSelector.All, TimeSpan.FromMilliseconds(10));
        using var faulty = new FaultyEventNotifier(inner, plan);
        faulty.Signal(); // due at 30 ms
        time.Advance(TimeSpan.FromMilliseconds(5));
        faulty.Signal(); // due at 15 ms

        time.Advance(TimeSpan.FromMilliseconds(10));
        Assert.Equal(1UL, inner.TestAndClear());
        time.Advance(TimeSpan.FromMilliseconds(14));
        Assert.Equal(0UL, inner.TestAndClear());
        time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal(1UL, inner.TestAndClear());
    }

    [Fact]
    public void Release_delivers_timed_delays_early_and_the_timer_does_not_deliver_them_again()
    {
        var time = new FakeTimeProvider();
        var inner = new EventNotifier();
        using var faulty = new FaultyEventNotifier(inner, new SignalFaultPlan { TimeProvider = time }.Delay(SignalSelector.All, TimeSpan.FromSeconds(1)));
        faulty.Signal();
        faulty.Signal();

        Assert.Equal(2, faulty.Release());
        time.Advance(TimeSpan.FromSeconds(2));

        Assert.Equal(2UL, inner.TestAndClear());
        Assert.Equal(2, faulty.Delivered);
    }

    [Fact]
    public void After_Dispose_timed_delays_stay_pending_until_Release()
    {
        var time = new FakeTimeProvider();
        var inner = new EventNotifier();
        var faulty = new FaultyEventNotifier(inner, new SignalFaultPlan { TimeProvider = time }.Delay(SignalSelector.All, TimeSpan.FromSeconds(1)));
        faulty.Signal();
        faulty.Dispose();

        time.Advance(TimeSpan.FromSeconds(2));
        Assert.False(inner.IsSet);
        Assert.Equal(1, faulty.Release());
        Assert.True(inner.IsSet);
    }

    [Fact]
    public void Counters_account_for_every_signal()
    {
        var plan = new SignalFaultPlan()
            .Drop(SignalSelector.Nth(1))
            .Delay(SignalSelector.Nth(2))
            .Duplicate(SignalSelector.Nth(3));
        var faulty = new FaultyEventNotifier(new EventNotifier(), plan);
        for (int i = 0; i < 5; i++)
        {
            faulty.Signal();
        }

        Assert.Equal(5, faulty.SignalsSeen);
        Assert.Equal(5, faulty.SignalCount);
        Assert.Equal(1, faulty.Dropped);
        Assert.Equal(1, faulty.Delayed);
        Assert.Equal(1, faulty.Duplicated);
        Assert.Equal(4, faulty.Delivered); // 2 for the duplicate, 1 each for signals 4 and 5
        faulty.Release();
        Assert.Equal(5, faulty.Delivered);
        Assert.Equal("channel: 5 seen, 1 dropped, 1 delayed, 1 duplicated, 5 delivered", faulty.ToString());
    }

    [Fact]
    public async Task The_consumer_side_is_the_inner_channel()
    {
        var inner = new EventNotifier();
        var faulty = new FaultyEventNotifier(inner, new SignalFaultPlan());
        Assert.False(faulty.Wait(0));
        inner.Signal();
        Assert.True(faulty.IsSet);
        Assert.True(faulty.Wait(0));
        await faulty.WaitAsync();
        Assert.Equal(1UL, faulty.TestAndClear());
        Assert.False(inner.IsSet);
    }

    [Fact]
    public void The_log_records_each_injected_fault_with_its_signal_number()
    {
        var plan = new SignalFaultPlan().Drop(SignalSelector.Nth(2)).Duplicate(SignalSelector.Nth(4)).Delay(SignalSelector.Nth(5));
        var faulty = new FaultyEventNotifier(new EventNotifier(), plan);
        for (int i = 0; i < 6; i++)
        {
            faulty.Signal();
        }

        Assert.Equal(
            [new(2, SignalFaultAction.Drop), new(4, SignalFaultAction.Duplicate), new FaultLogEntry(5, SignalFaultAction.Delay)],
            faulty.Log.ToArray());
    }

    [Fact]
    public void The_log_keeps_only_the_most_recent_faults_and_says_how_many_it_discarded()
    {
        var faulty = new FaultyEventNotifier(new EventNotifier(), new SignalFaultPlan { LogCapacity = 3 }.Drop(SignalSelector.All));
        for (int i = 0; i < 5; i++)
        {
            faulty.Signal();
        }

        Assert.Equal([3L, 4L, 5L], faulty.Log.ToArray().Select(e => e.Signal));
        Assert.Equal(5, faulty.Log.TotalRecorded);
        Assert.Equal(
            "signal  fault\n(2 earlier faults not kept)\n     3  drop\n     4  drop\n     5  drop\n",
            faulty.Log.ToString().ReplaceLineEndings("\n"));
    }

    [Fact]
    public void The_plan_rejects_a_delay_on_a_rule_that_does_not_delay()
    {
        Assert.Throws<ArgumentException>(() => new SignalFaultPlan().Add(new SignalFaultRule(SignalSelector.All, SignalFaultAction.Drop, TimeSpan.FromSeconds(1))));
        Assert.Throws<ArgumentOutOfRangeException>(() => SignalSelector.WithProbability(1.5));
        Assert.Throws<ArgumentOutOfRangeException>(() => SignalSelector.Nth(0));
    }

    [Fact]
    public void Changing_the_plan_later_does_not_change_a_notifier_built_from_it()
    {
        var plan = new SignalFaultPlan();
        var faulty = new FaultyEventNotifier(new EventNotifier(), plan);
        plan.Drop(SignalSelector.All);
        faulty.Signal();
        Assert.Equal(0, faulty.Dropped);
    }

    /// <summary>Signals <paramref name="count"/> times; for each, how many signals reached the inner channel.</summary>
    private static int[] Deliveries(SignalFaultPlan plan, int count)
    {
        var inner = new EventNotifier();
        using var faulty = new FaultyEventNotifier(inner, plan);
        int[] result = new int[count];
        for (int i = 0; i < count; i++)
        {
            long before = inner.SignalCount;
            faulty.Signal();
            result[i] = (int)(inner.SignalCount - before);
        }

        return result;
    }
}
