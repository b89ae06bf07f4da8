namespace Virtio.Diagnostics.Faults;

/// <summary>One injected fault: which signal, and what was done to it.</summary>
/// <param name="Signal">The signal's number on its channel, from 1.</param>
/// <param name="Action">The fault (never <see cref="SignalFaultAction.Deliver"/>: pass-through is not a fault).</param>
public readonly record struct FaultLogEntry(long Signal, SignalFaultAction Action);
