namespace Virtio.Diagnostics.Faults;

/// <summary>What a <see cref="FaultyEventNotifier"/> does with one signal.</summary>
public enum SignalFaultAction
{
    /// <summary>Passed to the inner channel at once (no rule matched).</summary>
    Deliver,

    /// <summary>Never reaches the inner channel: the lost kick or lost interrupt.</summary>
    Drop,

    /// <summary>Held, then delivered by <see cref="FaultyEventNotifier.Release"/> or when its delay has passed.</summary>
    Delay,

    /// <summary>Delivered twice: a spurious kick or interrupt.</summary>
    Duplicate,
}
