namespace Virtio.Diagnostics.Faults;

/// <summary>How a <see cref="SignalSelector"/> picks signals; signals are numbered from 1 in the order seen.</summary>
public enum SignalSelectorKind
{
    /// <summary>No signal (the value of a default <see cref="SignalSelector"/>, so an unset rule injects nothing).</summary>
    None,

    /// <summary>Every signal.</summary>
    All,

    /// <summary>Only signal number <see cref="SignalSelector.Count"/>.</summary>
    Nth,

    /// <summary>Signals whose number is a multiple of <see cref="SignalSelector.Count"/>.</summary>
    EveryNth,

    /// <summary>Signals 1 to <see cref="SignalSelector.Count"/>.</summary>
    First,

    /// <summary>Each signal independently, with <see cref="SignalSelector.Probability"/>, from the plan's seeded generator.</summary>
    Random,

    /// <summary>Every signal from the first one at which <see cref="SignalSelector.Condition"/> returned true.</summary>
    After,
}
