using System.Runtime.CompilerServices;
using Virtio.Notifications;

namespace Virtio.Diagnostics.Faults;

/// <summary>
/// A kick or call channel that misbehaves on purpose: it wraps the real channel and, following a
/// <see cref="SignalFaultPlan"/>, drops, delays or duplicates signals, deterministically for a given seed. Everything
/// on the consumer side (<see cref="TestAndClear"/>, <see cref="Wait"/>, <see cref="WaitAsync"/>) is the inner
/// channel's, so the device or driver sees exactly the signals that got through.
/// </summary>
/// <remarks>
/// <para><see cref="Signal"/> may be called from any thread. Signals are numbered from 1 in the order they are seen;
/// with a probability rule the numbering and the draw happen under one lock, so signal n always gets the n-th draw
/// of the seeded generator whatever the threads do. Dropping and passing through allocate nothing.</para>
/// <para>Delayed signals are kept as a count: the channel is an eventfd, signals carry no identity.</para>
/// </remarks>
public sealed class FaultyEventNotifier : IEventNotifier, IDisposable
{
    private static readonly string[] ActionTags = ["deliver", "drop", "delay", "duplicate"];

    private readonly IEventNotifier _inner;
    private readonly Rule[] _rules;
    private readonly bool _serialized;
    private readonly Random _random;
    private readonly TimeProvider _time;
    private readonly KeyValuePair<string, object?> _channelTag;

    // Guards the numbering and the generator when a probability rule makes their order matter.
    private readonly object _decisionGate = new();

    // Guards the delayed signals and the timer.
    private readonly object _delayGate = new();
    private readonly PriorityQueue<long, long> _timed = new(); // due time (UTC ticks), as element and priority
    private long _held;
    private ITimer? _timer;
    private bool _disposed;

    private long _seen;
    private long _dropped;
    private long _delayed;
    private long _delivered;
    private long _duplicated;

    /// <summary>Wraps <paramref name="inner"/> with the faults of <paramref name="plan"/>.</summary>
    /// <param name="inner">The real channel; not owned (not disposed with this one).</param>
    /// <param name="plan">The faults; its rules are copied, so later changes to it do not affect this channel.</param>
    /// <param name="channel">A name for logs, tables and the metrics' <c>channel</c> tag, such as <c>virtio-blk/0/kick</c>.</param>
    public FaultyEventNotifier(IEventNotifier inner, SignalFaultPlan plan, string channel = "channel")
    {
        ArgumentNullException.ThrowIfNull(inner);
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(channel);
        _inner = inner;
        _rules = new Rule[plan.Rules.Count];
        for (int i = 0; i < _rules.Length; i++)
        {
            SignalFaultRule rule = plan.Rules[i];
            _rules[i] = new Rule(rule.Signals, rule.Action, rule.DelayFor);
            _serialized |= rule.Signals.Kind == SignalSelectorKind.Random;
        }

        _random = new Random(plan.Seed);
        _time = plan.TimeProvider;
        Channel = channel;
        _channelTag = new KeyValuePair<string, object?>("channel", channel);
        Log = new FaultLog(plan.LogCapacity);
    }

    /// <summary>The wrapped channel.</summary>
    public IEventNotifier Inner => _inner;

    /// <summary>The channel's name.</summary>
    public string Channel { get; }

    /// <summary>The faults injected so far (the most recent ones).</summary>
    public FaultLog Log { get; }

    /// <summary>Signals seen (calls to <see cref="Signal"/>).</summary>
    public long SignalsSeen => Volatile.Read(ref _seen);

    /// <summary>Signals dropped.</summary>
    public long Dropped => Volatile.Read(ref _dropped);

    /// <summary>Signals delayed (whether or not delivered since).</summary>
    public long Delayed => Volatile.Read(ref _delayed);

    /// <summary>Signals passed to the inner channel: each pass-through once, each duplicate twice, each released delay once.</summary>
    public long Delivered => Volatile.Read(ref _delivered);

    /// <summary>Signals delivered twice.</summary>
    public long Duplicated => Volatile.Read(ref _duplicated);

    /// <summary>Delayed signals not yet delivered.</summary>
    public int Pending
    {
        get
        {
            lock (_delayGate)
            {
                return (int)_held + _timed.Count;
            }
        }
    }

    /// <inheritdoc />
    public bool IsSet => _inner.IsSet;

    /// <inheritdoc />
    /// <remarks>Counts the calls to this channel's <see cref="Signal"/>, dropped ones included (<see cref="SignalsSeen"/>).</remarks>
    public long SignalCount => SignalsSeen;

    /// <inheritdoc />
    public long WakeCount => _inner.WakeCount;

    /// <inheritdoc />
    public void Signal()
    {
        long number;
        SignalFaultAction action;
        TimeSpan? delay;
        if (_serialized)
        {
            lock (_decisionGate)
            {
                number = ++_seen;
                action = Decide(number, out delay);
            }
        }
        else
        {
            number = Interlocked.Increment(ref _seen);
            action = Decide(number, out delay);
        }

        FaultMetrics.Signals.Add(1, _channelTag, new KeyValuePair<string, object?>("action", ActionTags[(int)action]));
        switch (action)
        {
            case SignalFaultAction.Deliver:
                Deliver(1);
                break;
            case SignalFaultAction.Drop:
                Interlocked.Increment(ref _dropped);
                Log.Record(number, action);
                break;
            case SignalFaultAction.Duplicate:
                Interlocked.Increment(ref _duplicated);
                Log.Record(number, action);
                Deliver(2);
                break;
            default:
                Interlocked.Increment(ref _delayed);
                Log.Record(number, action);
                Hold(delay);
                break;
        }
    }

    /// <summary>Delivers every delayed signal now, held or timed.</summary>
    /// <returns>How many were delivered.</returns>
    public int Release()
    {
        int count;
        lock (_delayGate)
        {
            count = (int)_held + _timed.Count;
            _held = 0;
            _timed.Clear();
            _timer?.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        }

        Deliver(count);
        return count;
    }

    /// <inheritdoc />
    public ulong TestAndClear() => _inner.TestAndClear();

    /// <inheritdoc />
    public bool Wait(int millisecondsTimeout) => _inner.Wait(millisecondsTimeout);

    /// <inheritdoc />
    public ValueTask WaitAsync(CancellationToken cancellationToken = default) => _inner.WaitAsync(cancellationToken);

    /// <summary>
    /// Stops the delay timer. Signals still waiting for their time stay pending (<see cref="Release"/> can deliver
    /// them); the inner channel is not disposed.
    /// </summary>
    public void Dispose()
    {
        lock (_delayGate)
        {
            _disposed = true;
            _timer?.Dispose();
            _timer = null;
        }
    }

    /// <summary>A phrase for scenario tables: the channel and its counters.</summary>
    public override string ToString() =>
        $"{Channel}: {SignalsSeen} seen, {Dropped} dropped, {Delayed} delayed, {Duplicated} duplicated, {Delivered} delivered";

    private SignalFaultAction Decide(long number, out TimeSpan? delay)
    {
        Rule[] rules = _rules;
        for (int i = 0; i < rules.Length; i++)
        {
            if (Matches(ref rules[i], number))
            {
                delay = rules[i].DelayFor;
                return rules[i].Action;
            }
        }

        delay = null;
        return SignalFaultAction.Deliver;
    }

    private bool Matches(ref Rule rule, long number)
    {
        SignalSelector s = rule.Signals;
        switch (s.Kind)
        {
            case SignalSelectorKind.All:
                return true;
            case SignalSelectorKind.Nth:
                return number == s.Count;
            case SignalSelectorKind.EveryNth:
                return number % s.Count == 0;
            case SignalSelectorKind.First:
                return number <= s.Count;
            case SignalSelectorKind.Random:
                // One draw per signal that reaches this rule, under _decisionGate (see the remarks).
                return _random.NextDouble() < s.Probability;
            case SignalSelectorKind.After:
                if (Volatile.Read(ref rule.Latched))
                {
                    return true;
                }

                if (s.Condition!())
                {
                    Volatile.Write(ref rule.Latched, true);
                    return true;
                }

                return false;
            default:
                return false;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Deliver(int count)
    {
        if (count == 0)
        {
            return;
        }

        for (int i = 0; i < count; i++)
        {
            _inner.Signal();
        }

        Interlocked.Add(ref _delivered, count);
        FaultMetrics.Deliveries.Add(count, _channelTag);
    }

    private void Hold(TimeSpan? delay)
    {
        lock (_delayGate)
        {
            if (delay is not { } d)
            {
                _held++;
                return;
            }

            long due = _time.GetUtcNow().UtcTicks + d.Ticks;
            bool earliest = !_timed.TryPeek(out _, out long first) || due < first;
            _timed.Enqueue(due, due);
            if (earliest && !_disposed)
            {
                // One timer for all timed signals, programmed for the earliest: FakeTimeProvider.Advance fires it.
                _timer ??= _time.CreateTimer(static s => ((FaultyEventNotifier)s!).OnTimer(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
                _timer.Change(d, Timeout.InfiniteTimeSpan);
            }
        }
    }

    private void OnTimer()
    {
        int count = 0;
        lock (_delayGate)
        {
            long now = _time.GetUtcNow().UtcTicks;
            while (_timed.TryPeek(out _, out long due) && due <= now)
            {
                _timed.Dequeue();
                count++;
            }

            if (!_disposed && _timer is not null && _timed.TryPeek(out _, out long next))
            {
                _timer.Change(TimeSpan.FromTicks(next - now), Timeout.InfiniteTimeSpan);
            }
        }

        Deliver(count);
    }

    private struct Rule(SignalSelector signals, SignalFaultAction action, TimeSpan? delayFor)
    {
        public readonly SignalSelector Signals = signals;
        public readonly SignalFaultAction Action = action;
        public readonly TimeSpan? DelayFor = delayFor;
        public bool Latched;
    }
}
