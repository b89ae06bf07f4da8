namespace Virtio.Diagnostics.Faults;

/// <summary>
/// The faults a <see cref="FaultyEventNotifier"/> injects into a kick or call channel: an ordered list of rules, the
/// first whose selector picks a signal decides its fate, and signals no rule picks are delivered untouched.
/// </summary>
/// <remarks>
/// A plan is a description; each notifier built from it keeps its own signal numbers and its own generator seeded
/// with <see cref="Seed"/>, so two notifiers from one plan inject the same faults into the same signal sequence.
/// </remarks>
/// <example>
/// <code>
/// var plan = new SignalFaultPlan { Seed = 7 }
///     .Drop(SignalSelector.Nth(3))
///     .Delay(SignalSelector.EveryNth(5), TimeSpan.FromMilliseconds(20));
/// </code>
/// </example>
public sealed class SignalFaultPlan
{
    private readonly List<SignalFaultRule> _rules = [];

    /// <summary>The seed of the generator behind <see cref="SignalSelector.WithProbability"/> rules.</summary>
    public int Seed { get; init; }

    /// <summary>The clock timed delays are measured with (default: the system clock).</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>How many injected faults the notifier's <see cref="FaultLog"/> keeps (the most recent ones).</summary>
    public int LogCapacity
    {
        get;
        init
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value);
            field = value;
        }
    } = 256;

    /// <summary>The rules, in the order they are tried.</summary>
    public IReadOnlyList<SignalFaultRule> Rules => _rules;

    /// <summary>Adds a rule.</summary>
    /// <returns>This plan, to chain calls.</returns>
    public SignalFaultPlan Add(SignalFaultRule rule)
    {
        if (rule.Signals.Kind == SignalSelectorKind.Random && rule.Signals.Probability is < 0 or > 1)
        {
            throw new ArgumentOutOfRangeException(nameof(rule), rule.Signals.Probability, "a probability from 0 to 1");
        }

        if (rule.DelayFor is { } delay && (rule.Action != SignalFaultAction.Delay || delay < TimeSpan.Zero))
        {
            throw new ArgumentException("only a Delay rule has a delay, and it cannot be negative", nameof(rule));
        }

        _rules.Add(rule);
        return this;
    }

    /// <summary>Drops the selected signals: they never reach the inner channel.</summary>
    /// <returns>This plan, to chain calls.</returns>
    public SignalFaultPlan Drop(SignalSelector signals) => Add(new SignalFaultRule(signals, SignalFaultAction.Drop));

    /// <summary>Holds the selected signals until <see cref="FaultyEventNotifier.Release"/>.</summary>
    /// <returns>This plan, to chain calls.</returns>
    public SignalFaultPlan Delay(SignalSelector signals) => Add(new SignalFaultRule(signals, SignalFaultAction.Delay));

    /// <summary>
    /// Holds each selected signal for <paramref name="delay"/> (measured with <see cref="TimeProvider"/>), then a
    /// timer delivers it; <see cref="FaultyEventNotifier.Release"/> delivers it earlier.
    /// </summary>
    /// <returns>This plan, to chain calls.</returns>
    public SignalFaultPlan Delay(SignalSelector signals, TimeSpan delay) =>
        Add(new SignalFaultRule(signals, SignalFaultAction.Delay, delay));

    /// <summary>Delivers each selected signal twice.</summary>
    /// <returns>This plan, to chain calls.</returns>
    public SignalFaultPlan Duplicate(SignalSelector signals) => Add(new SignalFaultRule(signals, SignalFaultAction.Duplicate));
}
