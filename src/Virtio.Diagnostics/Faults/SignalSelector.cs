using System.Globalization;

namespace Virtio.Diagnostics.Faults;

/// <summary>
/// Which signals a <see cref="SignalFaultRule"/> applies to: by number (the n-th, every n-th, the first n), by seeded
/// probability, or all signals once a condition holds. Signals are numbered from 1 in the order the channel sees them.
/// </summary>
public readonly record struct SignalSelector
{
    private SignalSelector(SignalSelectorKind kind, long count, double probability, Func<bool>? condition)
    {
        Kind = kind;
        Count = count;
        Probability = probability;
        Condition = condition;
    }

    /// <summary>Every signal.</summary>
    public static SignalSelector All => new(SignalSelectorKind.All, 0, 0, null);

    /// <summary>How signals are picked.</summary>
    public SignalSelectorKind Kind { get; }

    /// <summary>The n of <see cref="SignalSelectorKind.Nth"/>, <see cref="SignalSelectorKind.EveryNth"/> and <see cref="SignalSelectorKind.First"/>.</summary>
    public long Count { get; }

    /// <summary>The probability of <see cref="SignalSelectorKind.Random"/>, from 0 to 1.</summary>
    public double Probability { get; }

    /// <summary>The condition of <see cref="SignalSelectorKind.After"/>.</summary>
    public Func<bool>? Condition { get; }

    /// <summary>Only signal number <paramref name="n"/> (from 1).</summary>
    public static SignalSelector Nth(long n)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(n, 1);
        return new(SignalSelectorKind.Nth, n, 0, null);
    }

    /// <summary>Signals <paramref name="n"/>, 2<paramref name="n"/>, 3<paramref name="n"/>...</summary>
    public static SignalSelector EveryNth(long n)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(n, 1);
        return new(SignalSelectorKind.EveryNth, n, 0, null);
    }

    /// <summary>Signals 1 to <paramref name="n"/>.</summary>
    public static SignalSelector First(long n)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(n);
        return new(SignalSelectorKind.First, n, 0, null);
    }

    /// <summary>Each signal with probability <paramref name="probability"/>, drawn from the plan's seeded generator.</summary>
    public static SignalSelector WithProbability(double probability)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(probability);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(probability, 1.0);
        return new(SignalSelectorKind.Random, 0, probability, null);
    }

    /// <summary>
    /// Every signal from the first one at which <paramref name="condition"/> returns true; later signals match
    /// without calling it again (the owner says "after ring index X" with <c>() => driver.AvailIdxShadow &gt;= X</c>,
    /// and the 16-bit wrap-around cannot switch the fault off again).
    /// </summary>
    /// <remarks>Called on the signalling thread, on every signal until it first returns true: keep it cheap and allocation-free.</remarks>
    public static SignalSelector After(Func<bool> condition)
    {
        ArgumentNullException.ThrowIfNull(condition);
        return new(SignalSelectorKind.After, 0, 0, condition);
    }

    /// <summary>A phrase for scenario tables, such as "every 3rd signal".</summary>
    public override string ToString() => Kind switch
    {
        SignalSelectorKind.All => "every signal",
        SignalSelectorKind.Nth => string.Create(CultureInfo.InvariantCulture, $"signal {Count}"),
        SignalSelectorKind.EveryNth => string.Create(CultureInfo.InvariantCulture, $"every signal numbered a multiple of {Count}"),
        SignalSelectorKind.First => string.Create(CultureInfo.InvariantCulture, $"the first {Count} signals"),
        SignalSelectorKind.Random => string.Create(CultureInfo.InvariantCulture, $"each signal with probability {Probability:0.###}"),
        SignalSelectorKind.After => "every signal once the condition holds",
        _ => "no signal",
    };
}
