namespace Virtio.Diagnostics.Faults;

/// <summary>One rule of a <see cref="SignalFaultPlan"/>: the signals it picks and what happens to them.</summary>
/// <param name="Signals">Which signals the rule applies to.</param>
/// <param name="Action">What happens to them.</param>
/// <param name="DelayFor">
/// For <see cref="SignalFaultAction.Delay"/>: how long a signal is held, measured with the plan's
/// <see cref="TimeProvider"/>; null holds it until <see cref="FaultyEventNotifier.Release"/>.
/// </param>
public readonly record struct SignalFaultRule(SignalSelector Signals, SignalFaultAction Action, TimeSpan? DelayFor = null);
