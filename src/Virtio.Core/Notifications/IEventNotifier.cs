namespace Virtio.Notifications;

/// <summary>
/// A kick (driver to device) or call (device to driver) channel with eventfd semantics: <see cref="Signal"/> adds one
/// to a counter, <see cref="TestAndClear"/> takes the counter and resets it, and a waiter wakes when it is non-zero.
/// Several signals before one read coalesce into one wake-up, exactly as an ioeventfd or irqfd does.
/// </summary>
/// <remarks>
/// Threading: <see cref="Signal"/> may be called from any thread at any time. There is one consumer: one thread (or one
/// pending <see cref="WaitAsync"/>) waits and clears at a time. Implementations: <see cref="EventNotifier"/> in process,
/// a Linux <c>eventfd</c> for vhost-user, and the fault-injecting wrappers of the diagnostics library.
/// </remarks>
public interface IEventNotifier
{
    /// <summary>Adds one to the counter and wakes the waiter, like <c>write(fd, 1)</c> on an eventfd.</summary>
    void Signal();

    /// <summary>Returns the counter and resets it to zero, like <c>read(fd)</c> on a non-blocking eventfd (0 when idle).</summary>
    ulong TestAndClear();

    /// <summary>True when the counter is non-zero (a signal is pending).</summary>
    bool IsSet { get; }

    /// <summary>Blocks until the counter is non-zero or the timeout passes; does not clear it.</summary>
    /// <param name="millisecondsTimeout">How long to wait; <see cref="Timeout.Infinite"/> waits forever.</param>
    /// <returns>True when a signal is pending, false on timeout.</returns>
    bool Wait(int millisecondsTimeout);

    /// <summary>Completes when the counter is non-zero; does not clear it. One pending call at a time.</summary>
    ValueTask WaitAsync(CancellationToken cancellationToken = default);

    /// <summary>How many times <see cref="Signal"/> was called since creation.</summary>
    long SignalCount { get; }

    /// <summary>How many times a waiter that had gone to sleep was woken by a signal.</summary>
    long WakeCount { get; }
}
