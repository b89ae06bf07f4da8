using Microsoft.Extensions.Logging;
using Virtio.Notifications;

namespace Virtio.VhostUser.Net;

/// <summary>Settings of a virtio-net device served over vhost-user (<see cref="VhostUserNet.CreateBackend"/>).</summary>
public sealed class VhostUserNetOptions
{
    /// <summary>Queue pairs: rx<sub>n</sub> is ring 2n, tx<sub>n</sub> ring 2n+1; VIRTIO_NET_F_MQ is offered above 1.</summary>
    public int QueuePairs { get; init; } = 1;

    /// <summary>The largest ring the front-end may set (a power of two).</summary>
    public int QueueSize { get; init; } = 1024;

    /// <summary>Offer VIRTIO_NET_F_MRG_RXBUF.</summary>
    public bool MergeableRxBuffers { get; init; } = true;

    /// <summary>Frames a queue pair keeps while the driver has no rx buffers; more are dropped (or refused).</summary>
    public int BacklogFrames { get; init; } = 256;

    /// <summary>Wraps each ring's call channel (fault injection); see <see cref="VhostUserBackendOptions.WrapCall"/>.</summary>
    public Func<int, IEventNotifier, IEventNotifier>? WrapCall { get; init; }

    /// <summary>How long stopping a ring waits for its requests in flight.</summary>
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Busy-poll the rings for this long after the last frame before sleeping on kicks again (see
    /// <see cref="VhostUserBackendOptions.PollIdle"/>); zero (the default) sleeps after each kick's work.
    /// </summary>
    public TimeSpan PollIdle { get; init; }

    /// <summary>Where logs go; nothing is logged when null.</summary>
    public ILoggerFactory? LoggerFactory { get; init; }
}
