using Microsoft.Extensions.Logging;
using Virtio.Notifications;

namespace Virtio.VhostUser;

/// <summary>Settings of a <see cref="VhostUserBackend"/>.</summary>
public sealed class VhostUserBackendOptions
{
    /// <summary>The name in logs; the device's name when null.</summary>
    public string? Name { get; init; }

    /// <summary>Memory slots offered in GET_MAX_MEM_SLOTS (CONFIGURE_MEM_SLOTS).</summary>
    public int MaxMemSlots { get; init; } = 32;

    /// <summary>How long stopping a ring (GET_VRING_BASE, a memory-table change) waits for its requests in flight.</summary>
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Wraps each queue's call channel (the front-end's eventfd) before the device uses it, for fault injection:
    /// given the queue index and the channel, returns what the device signals. Null: the channel itself.
    /// </summary>
    public Func<int, IEventNotifier, IEventNotifier>? WrapCall { get; init; }

    /// <summary>
    /// Busy-poll the rings (as Linux vhost with <c>busyloop_timeout</c> and DPDK's vhost PMD do) for this long after the
    /// last work before re-enabling notifications and sleeping on the kick eventfds again; zero (the default) sleeps
    /// after each kick's work. While polling, the driver's kicks are suppressed (EVENT_IDX: <c>avail_event</c> is
    /// left behind; otherwise <c>VRING_USED_F_NO_NOTIFY</c>) and the poll thread takes a core.
    /// </summary>
    public TimeSpan PollIdle { get; init; }

    /// <summary>Where logs go; nothing is logged when null.</summary>
    public ILoggerFactory? LoggerFactory { get; init; }
}
